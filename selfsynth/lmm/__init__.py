"""The LMM plumbing: the model and its loading, the generation backends (Hugging Face, vLLM), the
chat template, the prompt sets of prompts/, and the client of an OpenAI-compatible LLM."""
