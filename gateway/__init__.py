"""The public entry of the portal: one address in front of the five services.

It routes ``/api/v1/<service>/...`` (and the OIDC endpoints) to the services, streams
bodies both ways, bounds sizes, time and request rates, answers errors as problem
details, and serves one merged OpenAPI document, interactive docs and a ``/readyz`` that
reflects the services behind it. It keeps nothing durable.
"""
