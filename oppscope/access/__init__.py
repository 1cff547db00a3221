"""Who may call the API: hashed bearer tokens with scopes, and per-caller rate limits."""
