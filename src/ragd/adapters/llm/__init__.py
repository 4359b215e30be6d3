"""LLM adapters: one module per provider, each implementing ``ragd.ports.llm.LLM``.

Each model adapter module has a ``build(settings)`` function; ``services/container.py``
picks the module from ``LLM_PROVIDER``. ``openai_wire`` holds the Chat Completions wire
format that the OpenAI-compatible adapter and the in-process llama.cpp server share.
"""
