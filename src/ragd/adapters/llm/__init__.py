"""LLM adapters: one module per provider, each implementing ``ragd.ports.llm.LLM``.

Each model adapter module has a ``build`` function that takes its settings sections
(``build(llm)`` in-process, ``build(llm, providers)`` behind an API); the provider
registry (``ragd.adapters.providers``) picks the module from ``LLM_PROVIDER``. ``openai_wire``
holds the Chat Completions wire format that the OpenAI-compatible adapter and the
in-process llama.cpp server share; ``remote`` the base of the adapters that call an HTTP
API (their connection and error map are ``ragd.adapters.http``'s).
"""
