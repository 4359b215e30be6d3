"""Local stand-ins for remote providers: real HTTP servers on 127.0.0.1 speaking each
provider's wire format, so adapters are tested through their real HTTP clients."""
