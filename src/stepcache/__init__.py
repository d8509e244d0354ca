"""StepCache: step-level reuse for LLM serving (public API assembled at integration)."""
