"""The SQL texts of revision 0010 (frozen with it: a change here would change an applied revision).

Envelope layout (agentkeep.vault, docs/vault.md): one format byte, the key version (4 bytes,
big-endian), the 12-byte nonce, the ciphertext, the 16-byte tag. The ``kai`` view cuts it into
000's ``iv`` / ``decision_ciphertext`` / ``tag`` and writes each as base64 text (000 declares them
TEXT). A value is sealed on its own, with its own nonce: 000's single ``iv``/``tag`` pair is the
decision card's, and ``debate_ciphertext`` is the debate transcript's whole envelope (its nonce and
tag inside), because one nonce for two values would break GCM.
"""

from __future__ import annotations

# 0003's text of kai.kai_sessions (onboarding answers read from agent_sessions.context), restored
# by 0010's downgrade.
KAI_SESSIONS_0003 = """
CREATE OR REPLACE VIEW kai.kai_sessions WITH (security_invoker = true) AS
SELECT
    s.id                                    AS session_id,
    s.user_id                               AS user_id,
    s.context ->> 'processing_mode'         AS processing_mode,
    s.context ->> 'risk_profile'            AS risk_profile,
    CASE WHEN jsonb_typeof(s.context -> 'legal_acknowledged') = 'boolean'
         THEN (s.context ->> 'legal_acknowledged')::boolean ELSE false END  AS legal_acknowledged,
    CASE WHEN jsonb_typeof(s.context -> 'onboarding_complete') = 'boolean'
         THEN (s.context ->> 'onboarding_complete')::boolean ELSE false END AS onboarding_complete,
    s.created_at                            AS created_at,
    s.updated_at                            AS updated_at
FROM public.agent_sessions AS s
WHERE s.agent_type = 'kai'
"""

# 000:22-37 over the typed answers. A session without answers reads as 000's defaults (NULL
# mode and profile, FALSE flags); updated_at is the later of the session's and the answers'.
KAI_SESSIONS_0010 = """
CREATE OR REPLACE VIEW kai.kai_sessions WITH (security_invoker = true) AS
SELECT
    s.id                                          AS session_id,
    s.user_id                                     AS user_id,
    o.processing_mode::text                       AS processing_mode,
    o.risk_profile::text                          AS risk_profile,
    coalesce(o.is_legal_acknowledged, false)      AS legal_acknowledged,
    coalesce(o.is_onboarding_complete, false)     AS onboarding_complete,
    s.created_at                                  AS created_at,
    greatest(s.updated_at, o.updated_at)          AS updated_at
FROM public.agent_sessions AS s
LEFT JOIN public.onboarding_answers AS o
       ON o.user_id = s.user_id AND o.agent_session_id = s.id
WHERE s.agent_type = 'kai'
"""

# The answers existing Kai sessions kept in context (0003's reading), valid values only.
COPY_ONBOARDING = """
INSERT INTO public.onboarding_answers (
    user_id, agent_session_id, processing_mode, risk_profile,
    is_legal_acknowledged, legal_acknowledged_at, legal_acknowledged_by, is_onboarding_complete
)
SELECT a.user_id, a.id, a.processing_mode, a.risk_profile,
       a.legal_acknowledged,
       CASE WHEN a.legal_acknowledged THEN a.updated_at END,
       CASE WHEN a.legal_acknowledged THEN 'service' END,
       a.onboarding_complete AND a.legal_acknowledged
           AND a.processing_mode IS NOT NULL AND a.risk_profile IS NOT NULL
FROM (
    SELECT s.user_id, s.id, s.updated_at,
           (SELECT t.term FROM public.vocabulary_terms AS t WHERE t.vocabulary = 'processing_mode'
               AND t.term = s.context ->> 'processing_mode') AS processing_mode,
           (SELECT t.term FROM public.vocabulary_terms AS t WHERE t.vocabulary = 'risk_profile'
               AND t.term = s.context ->> 'risk_profile') AS risk_profile,
           CASE WHEN jsonb_typeof(s.context -> 'legal_acknowledged') = 'boolean'
                THEN (s.context ->> 'legal_acknowledged')::boolean ELSE false END AS legal_acknowledged,
           CASE WHEN jsonb_typeof(s.context -> 'onboarding_complete') = 'boolean'
                THEN (s.context ->> 'onboarding_complete')::boolean ELSE false END AS onboarding_complete
    FROM public.agent_sessions AS s
    WHERE s.agent_type = 'kai'
      AND s.context ?| ARRAY['processing_mode', 'risk_profile', 'legal_acknowledged', 'onboarding_complete']
) AS a
"""

# 000:45-63 by its names. Decisions whose card is stored in plaintext (a profile that does not
# encrypt it) have NULL ciphertext, iv, tag and algorithm here.
KAI_DECISIONS = """
CREATE VIEW kai.kai_decisions WITH (security_invoker = true) AS
SELECT
    d.id                                                    AS id,
    d.user_id                                               AS user_id,
    d.agent_session_id                                      AS session_id,
    d.subject::text                                         AS ticker,
    d.decision_type::text                                   AS decision_type,
    encode(substring(d.decision_card_sealed FROM 18
                     FOR octet_length(d.decision_card_sealed) - 33), 'base64') AS decision_ciphertext,
    encode(d.debate_transcript_sealed, 'base64')            AS debate_ciphertext,
    encode(substring(d.decision_card_sealed FROM 6 FOR 12), 'base64') AS iv,
    encode(substring(d.decision_card_sealed FROM octet_length(d.decision_card_sealed) - 15 FOR 16),
           'base64')                                        AS tag,
    CASE WHEN d.decision_card_sealed IS NOT NULL THEN 'aes-256-gcm' END AS algorithm,
    d.confidence_score::numeric(3,2)                        AS confidence_score,
    d.created_at                                            AS created_at
FROM public.decisions AS d
"""

# 002:66-77 by its names. The rationale is NULL here when it is sealed (the profile encrypts it):
# only the SDK, with the vault, opens it.
AGENTIC_AGENT_DECISIONS = """
CREATE VIEW agentic.agent_decisions WITH (security_invoker = true) AS
SELECT
    d.id                                AS decision_id,
    d.agent_session_id                  AS session_id,
    d.decision_type                     AS decision_type,
    d.input_context                     AS input_context,
    d.rationale                         AS decision_rationale,
    d.action_taken                      AS action_taken,
    d.confidence_score                  AS confidence_score,
    d.user_feedback                     AS user_feedback,
    d.created_at                        AS created_at,
    d.execution_time_ms                 AS execution_time_ms
FROM public.decisions AS d
"""
