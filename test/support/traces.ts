/** The real Azure LLM inference traces in ../shared/data (see its README for provenance and licence). */
const TRACE_DIR = new URL("../../../shared/data/traces/Azure__AzurePublicDataset/data/", import.meta.url);
export const CONV_TRACE = new URL("AzureLLMInferenceTrace_conv.csv", TRACE_DIR).pathname;
export const CODE_TRACE = new URL("AzureLLMInferenceTrace_code.csv", TRACE_DIR).pathname;
