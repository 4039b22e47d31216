"""The portal's services. Each sub-package is one independently deployable service."""
