"""The console's hosted sign-in: the settings of its Cognito app client, applied by a custom resource.

The client's callback URL is the CloudFront distribution's, which template.yaml cannot declare on the
client itself (the distribution forwards to the HTTP API, whose JWT authorizer names the client: a
cycle). So the template creates the client bare and the ``ConsoleSignIn`` custom resource carries
all of its settings; they are applied here whole, every time any of them changes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The console is a browser: authorization code with PKCE only (no implicit flow, no client secret).
CODE_FLOW = ["code"]


class SignInSettings(BaseModel):
    """The ``ConsoleSignIn`` resource's properties; names are Cognito's UpdateUserPoolClient parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_pool_id: str = Field(alias="UserPoolId", pattern=r"^[\w-]+_[0-9a-zA-Z]+$")
    client_id: str = Field(alias="ClientId", pattern=r"^[\w+]+$", max_length=128)
    callback_urls: list[str] = Field(alias="CallbackURLs", min_length=1)
    logout_urls: list[str] = Field(alias="LogoutURLs", min_length=1)
    allowed_oauth_flows: list[Literal["code"]] = Field(alias="AllowedOAuthFlows", min_length=1)
    allowed_oauth_scopes: list[str] = Field(alias="AllowedOAuthScopes", min_length=1)
    supported_identity_providers: list[str] = Field(alias="SupportedIdentityProviders", min_length=1)
    explicit_auth_flows: list[str] = Field(alias="ExplicitAuthFlows")
    read_attributes: list[str] = Field(alias="ReadAttributes")
    write_attributes: list[str] = Field(alias="WriteAttributes")
    prevent_user_existence_errors: Literal["ENABLED", "LEGACY"] = Field(alias="PreventUserExistenceErrors")
    enable_token_revocation: bool = Field(alias="EnableTokenRevocation")
    id_token_validity: int = Field(alias="IdTokenValidity", gt=0)
    access_token_validity: int = Field(alias="AccessTokenValidity", gt=0)
    refresh_token_validity: int = Field(alias="RefreshTokenValidity", gt=0)
    token_validity_units: dict[Literal["IdToken", "AccessToken", "RefreshToken"], str] = Field(
        alias="TokenValidityUnits"
    )

    @field_validator("callback_urls", "logout_urls")
    @classmethod
    def _https_only(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith("https://") or len(url) <= len("https://"):
                raise ValueError(f"{url!r} is not an https:// URL (Cognito sends codes to https only)")
        return urls

    def client_parameters(self) -> dict[str, Any]:
        """UpdateUserPoolClient's parameters besides the pool, the client and its name."""
        parameters = self.model_dump(by_alias=True, exclude={"user_pool_id", "client_id"})
        parameters["AllowedOAuthFlowsUserPoolClient"] = True
        return parameters
