/**
 * The legacy calculator's plan inputs (cost_calculator.py), kept reachable by EstimateCost: its per-phase token
 * defaults and its quality presets. Its prices are the catalog's "legacy" list (seeded by migration), so a plan
 * gives the old calculator's results exactly: balanced $0.00875, quality $0.234625.
 */

/** Tokens per phase when a plan gives none (PHASE_TOKEN_ESTIMATES); any other phase: DEFAULT_PHASE_TOKENS. */
export const PHASE_TOKEN_DEFAULTS: Readonly<Record<string, bigint>> = Object.freeze({
  research: 2000n,
  outline: 1000n,
  draft: 3000n,
  assess: 1500n,
  refine: 2000n,
  finalize: 1000n,
  image_selection: 500n,
});
export const DEFAULT_PHASE_TOKENS = 1000n;

export type QualityPreset = "fast" | "balanced" | "quality";

/** The six content phases a preset covers, in the legacy order (image_selection is never part of a preset). */
const PRESET_PHASES = ["research", "outline", "draft", "assess", "refine", "finalize"] as const;

/** The legacy default model of each phase per preset (_select_default_models). */
const PRESET_MODELS: Record<QualityPreset, (phase: string) => string> = {
  fast: () => "ollama/mistral",
  balanced: (phase) => (phase === "draft" || phase === "refine" ? "gpt-3.5-turbo" : "ollama/mistral"),
  quality: (phase) => (phase === "draft" || phase === "refine" ? "gpt-4" : "gpt-3.5-turbo"),
};

/** One phase of a plan: its model and its tokens (given, or the phase's default; 0 stays 0). */
export interface PlannedPhase {
  operation: string;
  model: string;
  tokens: bigint;
}

/** The phases of a quality preset, with their default token counts. */
export function presetPhases(preset: QualityPreset): PlannedPhase[] {
  return PRESET_PHASES.map((operation) => ({ operation, model: PRESET_MODELS[preset](operation), tokens: phaseTokens(operation) }));
}

/** A phase's default tokens. */
export function phaseTokens(operation: string): bigint {
  return PHASE_TOKEN_DEFAULTS[operation] ?? DEFAULT_PHASE_TOKENS;
}
