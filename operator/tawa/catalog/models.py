"""catalog-info.yaml and the Component spec, as pydantic models (the input edge).

The Component resource's spec *is* the catalog spec plus what the deploy
pipeline adds (image, replicas, port, env), so one model serves both, and the
CRD schema is generated from it (see ``crd.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from pydantic.alias_generators import to_camel

from tawa.names import DNS_LABEL, WALLET_PREFIX

# A Component's name becomes its Service's, which must start with a letter (RFC 1035).
SERVICE_NAME = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A path of non-empty segments without whitespace, query or fragment.
ROUTE_PATH = r"^(/[^/\s?#]+)*/?$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL)]
ServiceName = Annotated[str, Field(pattern=SERVICE_NAME)]
Transport = Literal["direct", "janus", "gateway"]
Auth = Literal["service", "public"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Dependency(_Model):
    service: DnsLabel
    transport: Transport = "direct"
    port: Port | None = None
    scopes: list[str] = Field(default_factory=list)


class Route(_Model):
    path: Annotated[str, Field(pattern=ROUTE_PATH, min_length=1)]
    methods: list[HttpMethod] = Field(
        default_factory=list, description="Omitted or empty: every method."
    )
    auth: Auth = "service"
    gas: Annotated[StrictInt, Field(ge=0)] | None = None

    @field_validator("methods", mode="before")
    @classmethod
    def _upper_case_methods(cls, value: object) -> object:
        if isinstance(value, list):
            return [m.upper() if isinstance(m, str) else m for m in value]
        return value


class Database(_Model):
    name: str
    type: str


class EnvVar(_Model):
    name: Annotated[str, Field(pattern=ENV_NAME)]
    value: str = ""


class ComponentSpec(_Model):
    type: str = "service"
    lifecycle: str = "production"
    owner: DnsLabel
    image: str | None = Field(None, description="Container image; added by `tawa deploy`.")
    replicas: Annotated[StrictInt, Field(ge=0, le=1000)] = 1
    port: Port = 3000
    env: list[EnvVar] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    internal_dependencies: list[Dependency] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)
    # Backstage fields carried along untouched.
    system: str | None = None
    subcomponent_of: str | None = None
    provides_apis: list[str] = Field(default_factory=list)
    consumes_apis: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)

    @field_validator("owner")
    @classmethod
    def _owner_is_an_org(cls, value: str) -> str:
        # Not in the schema's pattern: the API server's regexps have no look-ahead.
        if value.startswith(WALLET_PREFIX):
            raise ValueError(f"must be an org slug, which never starts with {WALLET_PREFIX!r} (that prefix "
                             "marks wallet ids); name the org itself")
        return value

    def all_dependencies(self) -> list[tuple[str, int, Dependency]]:
        """Every dependency entry with the list and index it came from."""
        return [
            *(("internalDependencies", i, d) for i, d in enumerate(self.internal_dependencies)),
            *(("dependencies", i, d) for i, d in enumerate(self.dependencies)),
        ]


class Metadata(_Model):
    name: ServiceName
    namespace: DnsLabel | None = None
    title: str | None = None
    description: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    links: list[dict[str, str]] = Field(default_factory=list)


class CatalogInfo(_Model):
    api_version: Literal["backstage.io/v1alpha1"]
    kind: Literal["Component"]
    metadata: Metadata
    spec: ComponentSpec
