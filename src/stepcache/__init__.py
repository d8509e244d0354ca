"""StepCache: step-level reuse for LLM serving."""
