"""``Keep``: the Python entry point. One object holds the database and every service."""

from __future__ import annotations

from types import TracebackType

from agentkeep.access_keys.service import AccessKeyService
from agentkeep.activities.service import ActivityService
from agentkeep.agent_sessions.service import AgentSessionService
from agentkeep.agents.service import AgentService
from agentkeep.audit.service import AuditService
from agentkeep.consent.service import ConsentService
from agentkeep.conversations.service import ConversationService
from agentkeep.database import migrate as migrations
from agentkeep.database.bootstrap import ensure_database
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls
from agentkeep.decisions.service import DecisionService, OnboardingService
from agentkeep.encrypted import ENCRYPTED_COLUMNS
from agentkeep.errors import ConfigurationError
from agentkeep.governance.service import GovernanceService
from agentkeep.messages.service import MessageService
from agentkeep.operators.service import OperatorService
from agentkeep.personas.service import PersonaService
from agentkeep.privacy.service import PrivacyService
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.service import ProfileService
from agentkeep.provider_keys.service import ProviderKeyService
from agentkeep.schema import SCHEMA
from agentkeep.settings import Settings, load_settings
from agentkeep.trust.service import TrustService
from agentkeep.user_sessions.service import UserSessionService
from agentkeep.users.service import UserService
from agentkeep.vault.keyring import Keyring
from agentkeep.vault.master import MasterKeyError, MasterKeyProvider, provider_from_settings
from agentkeep.vault.service import VaultService


class Keep:
    """Async access to everything agentkeep stores.

    >>> keep = await Keep.connect()                       # embedded PostgreSQL by default
    >>> user = await keep.users.create(NewUser(email="ada@example.com"))
    >>> chat = await keep.conversations.create(user.user_id)
    >>> await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="hi"))
    """

    def __init__(
        self, database: Database, settings: Settings, *, master_key: MasterKeyProvider | None = None
    ) -> None:
        self.database = database
        self.settings = settings
        # The master key is read (and checked against the vault) by Keep.connect, or on first use.
        self.keyring = Keyring(database, master_key or master_key_provider(settings))
        self.users = UserService(database)
        self.user_sessions = UserSessionService(database, default_ttl_seconds=settings.session_ttl_seconds)
        self.agents = AgentService(database)
        self.personas = PersonaService(database)
        self.agent_sessions = AgentSessionService(database)
        self.conversations = ConversationService(database)
        self.messages = MessageService(database)
        self.access_keys = AccessKeyService(database)
        self.profile = ProfileService(database)
        self.audit = AuditService(database)
        self.operators = OperatorService(database)
        self.provider_keys = ProviderKeyService(database, self.keyring)
        self.decisions = DecisionService(database, self.keyring)
        self.onboarding = OnboardingService(database)
        self.trust = TrustService(database)
        self.vault = VaultService(database, self.keyring, ENCRYPTED_COLUMNS)
        self.privacy = PrivacyService(database, self.keyring, ENCRYPTED_COLUMNS)
        self.governance = GovernanceService(database)
        self.consent = ConsentService(database)
        self.activities = ActivityService(database)

    @classmethod
    async def connect(
        cls,
        settings: Settings | None = None,
        *,
        migrate: bool | None = None,
        apply_profile: str | None = None,
    ) -> Keep:
        """Open agentkeep. With no AGENTKEEP_DATABASE_URL, start (or attach to) the embedded server.

        ``migrate``: apply pending migrations first. Default: yes for the embedded server (nobody
        else would), no for a database you bring, where pending migrations are an error.
        ``apply_profile``: then apply this profile (a shipped name or a path). Without it, an
        AGENTKEEP_PROFILE the database does not have is an error (nothing is applied silently).
        """
        settings = settings or load_settings()
        # A bad profile file is refused before anything is started or changed.
        wanted = load_profile(apply_profile) if apply_profile else None
        database = await open_database(settings)
        try:
            should_migrate = settings.uses_embedded_server if migrate is None else migrate
            if should_migrate:
                await migrations.upgrade(database)
            elif pending := await migrations.pending(database):
                raise ConfigurationError(
                    f"the database has {len(pending)} pending migration(s) ({', '.join(pending)}): "
                    "run `agentkeep migrate up`"
                )
            profiles = ProfileService(database)
            if wanted is not None:
                await profiles.apply(wanted)
            elif settings.profile:
                await profiles.check(settings.profile)
            keep = cls(database, settings)
            # A wrong or missing master key is refused here, before anything is served.
            await _open_vault(keep.keyring, settings)
        except BaseException:
            await database.close()
            raise
        return keep

    async def close(self) -> None:
        await self.database.close()

    async def __aenter__(self) -> Keep:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def _open_vault(keyring: Keyring, settings: Settings) -> None:
    try:
        await keyring.open()
    except MasterKeyError as exc:
        upcoming = settings.default_master_key_file.with_name("master.key.next")
        if settings.master_key is None and settings.master_key_file is None and upcoming.exists():
            raise MasterKeyError(
                f"{exc.detail}; a `keys rotate-master` was interrupted: if {upcoming} opens the vault, "
                f"move it to {settings.default_master_key_file}"
            ) from None
        raise


def master_key_provider(settings: Settings) -> MasterKeyProvider:
    """AGENTKEEP_MASTER_KEY, else AGENTKEEP_MASTER_KEY_FILE, else data_dir/master.key (docs/vault.md)."""
    text = settings.master_key.get_secret_value() if settings.master_key is not None else None
    return provider_from_settings(text, settings.master_key_file, settings.default_master_key_file)


async def open_database(settings: Settings) -> Database:
    """Connect to the configured database, starting and bootstrapping the embedded one if needed.

    The database is told agentkeep's tables (``agentkeep.schema.SCHEMA``) here, where the
    domains and the database layer meet.
    """
    if not settings.uses_embedded_server:
        urls = DatabaseUrls.from_settings(settings)
        return Database.from_urls(urls, pool_size=settings.pool_size, schema=SCHEMA)
    server = EmbeddedServer.start(settings.data_dir)
    try:
        urls = DatabaseUrls.for_embedded(server, settings.database_name)
        await ensure_database(urls, settings.database_name)
    except BaseException:
        server.stop()
        raise
    return Database.from_urls(urls, pool_size=settings.pool_size, embedded=server, schema=SCHEMA)
