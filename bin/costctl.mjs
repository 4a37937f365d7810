#!/usr/bin/env node
// costctl: the command-line tool of CostTrackingService. The TypeScript sources run through tsx's loader.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/costctl.ts");
