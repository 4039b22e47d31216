"""Identity and single sign-on service: owns accounts, credentials, OIDC clients, signing keys, codes, sessions."""
