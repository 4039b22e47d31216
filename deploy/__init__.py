"""How the portal is run: locally (``deploy.local``) and in production (images, compose, Kubernetes)."""
