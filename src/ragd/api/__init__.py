"""The HTTP face of ragd: FastAPI app factory, routers, middleware, problem+json errors."""
