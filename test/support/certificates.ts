import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM files of a throwaway CA, a server certificate for 127.0.0.1/localhost, and a client certificate. */
export interface TestCertificates {
  dir: string;
  caCert: Buffer;
  serverCertPath: string;
  serverKeyPath: string;
  caCertPath: string;
  clientCert: Buffer;
  clientKey: Buffer;
  /** A client certificate from a different CA, which mutual TLS must refuse. */
  strangerCert: Buffer;
  strangerKey: Buffer;
}

/** Generates the certificates with openssl in a temporary folder (EC P-256, valid for a day). */
export function generateCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "costtracking-tls-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = (name: string) => ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
  const selfSigned = (name: string, subject: string) =>
    ssl("req", "-x509", "-new", "-key", `${name}.key`, "-subj", subject, "-days", "1", "-out", `${name}.crt`);
  const signed = (name: string, ca: string, subject: string, extensions: string) => {
    ssl("req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
  };
  for (const name of ["ca", "server", "client", "other-ca", "stranger"]) key(name);
  selfSigned("ca", "/CN=costtracking test CA");
  selfSigned("other-ca", "/CN=someone else's CA");
  signed("server", "ca", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  signed("client", "ca", "/CN=orchestrator", "extendedKeyUsage=clientAuth\n");
  signed("stranger", "other-ca", "/CN=stranger", "extendedKeyUsage=clientAuth\n");
  const read = (file: string) => readFileSync(join(dir, file));
  return {
    dir,
    caCert: read("ca.crt"),
    caCertPath: join(dir, "ca.crt"),
    serverCertPath: join(dir, "server.crt"),
    serverKeyPath: join(dir, "server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    strangerCert: read("stranger.crt"),
    strangerKey: read("stranger.key"),
  };
}
