import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** The FileDescriptorProtos of a FileDescriptorSet (field 1, repeated), as raw bytes. */
function splitFileDescriptorSet(bytes: Uint8Array): Buffer[] {
  const reader = new BinaryReader(bytes);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

const readDescriptorSet = (name: string) =>
  splitFileDescriptorSet(readFileSync(fileURLToPath(new URL(`../../gen/${name}`, import.meta.url))));

/**
 * Serves gRPC server reflection from the descriptor sets buf compiled (gen/*.binpb). proto-loader's descriptors
 * lose their imports, which breaks buf curl and grpcurl (grpc/grpc-node#2595), so the raw buf output is used.
 */
export function addReflection(server: Server): void {
  const packageDefinition = {
    "buf.descriptor_set": {
      fileDescriptorProtos: [...readDescriptorSet("descriptor.binpb"), ...readDescriptorSet("health.binpb")],
    },
  } as unknown as PackageDefinition;
  new ReflectionService(packageDefinition).addToServer(server);
}
