//! The `[kafka]` section of pcgate's config: brokers, group, topics, security, tuning; and the
//! librdkafka client configurations built from it.
//!
//! Secrets never come from the file: the SASL password, the TLS key password and the OIDC client
//! secret are read from `PCGATE_KAFKA_SASL_PASSWORD`, `PCGATE_KAFKA_SSL_KEY_PASSWORD` and
//! `PCGATE_KAFKA_OIDC_CLIENT_SECRET`. A file that holds one of them (as a field or in a raw
//! property table) is refused with an error naming the field and the variable to use.
//!
//! Authentication supported: TLS (CA, client certificate and key), SASL/PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512, OAUTHBEARER with librdkafka's own OIDC client-credentials flow
//! (`sasl.oauthbearer.method=oidc`, which needs librdkafka built with libcurl: build pcgate-control
//! with the `oidc` feature), and Amazon MSK's IAM authentication (`method = "aws_msk_iam"`):
//! OAUTHBEARER over `sasl_ssl` with a token that pcgate signs itself (AWS SigV4, see
//! [`msk_iam`](super::msk_iam)) and hands to librdkafka from the clients' contexts
//! (`ClientContext::generate_oauth_token`, in [`pipeline`](super::pipeline)). Its credentials come
//! from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` only (never from the
//! file); its region from `aws_region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
//! GSSAPI (Kerberos) is not built in.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rdkafka::ClientConfig;
use serde::Deserialize;

use super::msk_iam::{
    self, AwsCredentials, MskIamSigner, ENV_ACCESS_KEY_ID, ENV_DEFAULT_REGION, ENV_REGION,
    ENV_SECRET_ACCESS_KEY, ENV_SESSION_TOKEN,
};
use crate::traffic::{self, OutTopic};

/// Environment variable holding the SASL password (PLAIN, SCRAM).
pub const ENV_SASL_PASSWORD: &str = "PCGATE_KAFKA_SASL_PASSWORD";
/// Environment variable holding the password of the TLS client key.
pub const ENV_SSL_KEY_PASSWORD: &str = "PCGATE_KAFKA_SSL_KEY_PASSWORD";
/// Environment variable holding the OIDC client secret (OAUTHBEARER, method oidc).
pub const ENV_OIDC_CLIENT_SECRET: &str = "PCGATE_KAFKA_OIDC_CLIENT_SECRET";
/// Environment variable overriding `kafka.aws_region`.
pub const ENV_AWS_REGION: &str = "PCGATE_KAFKA_AWS_REGION";

/// librdkafka properties that hold secrets, and the variable to use instead.
const SECRET_PROPERTIES: [(&str, &str); 6] = [
    ("sasl.password", ENV_SASL_PASSWORD),
    ("ssl.key.password", ENV_SSL_KEY_PASSWORD),
    ("ssl.key.pem", ENV_SSL_KEY_PASSWORD),
    ("ssl.keystore.password", ENV_SSL_KEY_PASSWORD),
    ("sasl.oauthbearer.client.secret", ENV_OIDC_CLIENT_SECRET),
    ("sasl.oauthbearer.config", ENV_OIDC_CLIENT_SECRET),
];

/// Errors of the Kafka configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("kafka config: {0}")]
    Toml(String),
    /// A TOML error at a place in the file: `LINE:COLUMN: field `F`: what is wrong` (the
    /// caller puts the file in front, as `file:line:column: ...`).
    #[error("{line}:{column}: field `{field}`: {message}")]
    At {
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("kafka config: `{field}` holds a secret and may not be in the config file; set the environment variable {env} instead")]
    SecretInFile { field: String, env: &'static str },
    #[error("kafka config: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("kafka config: environment variable {var}: {reason}")]
    Env { var: &'static str, reason: String },
}

/// How the client talks to the brokers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_librdkafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "plaintext" => Some(SecurityProtocol::Plaintext),
            "ssl" => Some(SecurityProtocol::Ssl),
            "sasl_plaintext" => Some(SecurityProtocol::SaslPlaintext),
            "sasl_ssl" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

/// The SASL mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER")]
    OAuthBearer,
}

impl SaslMechanism {
    fn as_librdkafka(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        }
    }
}

/// How OAUTHBEARER tokens are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OAuthMethod {
    /// librdkafka fetches tokens from an OIDC token endpoint (client-credentials grant).
    #[default]
    Oidc,
    /// librdkafka's unsecured JWT (tests against brokers that accept it; never production).
    UnsecuredJwt,
    /// Amazon MSK's IAM authentication: pcgate signs the token with the AWS credentials of the
    /// environment (needs `sasl_ssl`; MSK listens for it on port 9098).
    AwsMskIam,
}

/// `[kafka.oauthbearer]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthBearerConfig {
    pub method: OAuthMethod,
    pub token_endpoint_url: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    /// `key=value,...` SASL extensions (e.g. a logical cluster id).
    pub extensions: Option<String>,
    /// Principal of the unsecured JWT (method `unsecured_jwt`).
    pub unsecured_principal: Option<String>,
    /// Refused: the secret comes from [`ENV_OIDC_CLIENT_SECRET`].
    client_secret: Option<Refused>,
}

/// A config-file field that must not be there (a secret): its value is read and thrown away,
/// never kept or printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Refused;

impl<'de> Deserialize<'de> for Refused {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Refused)
    }
}

/// Secrets, from the environment only. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub sasl_password: Option<String>,
    pub ssl_key_password: Option<String>,
    pub oidc_client_secret: Option<String>,
    /// AWS credentials of method `aws_msk_iam` (the access key id is not secret, but goes with
    /// the rest).
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Secrets")
            .field("sasl_password", &mark(&self.sasl_password))
            .field("ssl_key_password", &mark(&self.ssl_key_password))
            .field("oidc_client_secret", &mark(&self.oidc_client_secret))
            .field("aws_access_key_id", &mark(&self.aws_access_key_id))
            .field("aws_secret_access_key", &mark(&self.aws_secret_access_key))
            .field("aws_session_token", &mark(&self.aws_session_token))
            .finish()
    }
}

/// The `[kafka]` section. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port,...`
    pub bootstrap_servers: String,
    pub client_id: String,
    /// The consumer group several pcgate instances share.
    pub group_id: String,
    /// Where flow records are consumed from.
    pub input_topic: String,
    pub decisions_topic: String,
    pub blocked_topic: String,
    pub dead_letter_topic: String,
    /// Where a group without committed offsets starts: `earliest` or `latest`.
    pub auto_offset_reset: String,
    pub security_protocol: SecurityProtocol,
    /// PEM file of the CA that signed the brokers' certificates (system CAs when unset).
    pub ssl_ca_location: Option<PathBuf>,
    /// PEM client certificate (mutual TLS).
    pub ssl_certificate_location: Option<PathBuf>,
    /// PEM client key (mutual TLS); its password from [`ENV_SSL_KEY_PASSWORD`].
    pub ssl_key_location: Option<PathBuf>,
    /// Check the broker's host name against its certificate.
    pub ssl_verify_hostname: bool,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub oauthbearer: OAuthBearerConfig,
    /// AWS region of the MSK cluster (method `aws_msk_iam`); when unset, `AWS_REGION`, then
    /// `AWS_DEFAULT_REGION`. [`ENV_AWS_REGION`] overrides it.
    pub aws_region: Option<String>,
    /// How long the producer retries a message before its delivery fails and it goes to the
    /// spool.
    pub message_timeout_ms: u32,
    pub linger_ms: u32,
    /// Bytes per partition batch.
    pub batch_size: u32,
    /// `none`, `gzip`, `snappy`, `lz4` (`zstd` needs librdkafka built with it).
    pub compression: String,
    /// Offsets are committed at least this often while records flow.
    pub commit_interval_ms: u64,
    /// ... and after this many consumed records.
    pub commit_every: u64,
    /// Raw librdkafka properties for both clients.
    pub properties: BTreeMap<String, String>,
    /// Raw librdkafka properties for the consumer only.
    pub consumer_properties: BTreeMap<String, String>,
    /// Raw librdkafka properties for the producer only.
    pub producer_properties: BTreeMap<String, String>,
    /// Refused: from [`ENV_SASL_PASSWORD`].
    sasl_password: Option<Refused>,
    /// Refused: from [`ENV_SSL_KEY_PASSWORD`].
    ssl_key_password: Option<Refused>,
    /// Refused: from `AWS_ACCESS_KEY_ID`.
    aws_access_key_id: Option<Refused>,
    /// Refused: from `AWS_SECRET_ACCESS_KEY`.
    aws_secret_access_key: Option<Refused>,
    /// Refused: from `AWS_SESSION_TOKEN`.
    aws_session_token: Option<Refused>,
    /// From the environment; never from the file.
    #[serde(skip)]
    pub secrets: Secrets,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "localhost:9092".into(),
            client_id: "pcgate".into(),
            group_id: "pcgate".into(),
            input_topic: traffic::NETWORK_TRAFFIC.into(),
            decisions_topic: traffic::POLICY_DECISIONS.into(),
            blocked_topic: traffic::BLOCKED_REQUESTS.into(),
            dead_letter_topic: traffic::NETWORK_TRAFFIC_DLQ.into(),
            auto_offset_reset: "earliest".into(),
            security_protocol: SecurityProtocol::Plaintext,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_verify_hostname: true,
            sasl_mechanism: None,
            sasl_username: None,
            oauthbearer: OAuthBearerConfig::default(),
            aws_region: None,
            message_timeout_ms: 30_000,
            linger_ms: 5,
            batch_size: 1_000_000,
            compression: "lz4".into(),
            commit_interval_ms: 1_000,
            commit_every: 100_000,
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
            sasl_password: None,
            ssl_key_password: None,
            aws_access_key_id: None,
            aws_secret_access_key: None,
            aws_session_token: None,
            secrets: Secrets::default(),
        }
    }
}

impl KafkaConfig {
    /// Reads the `[kafka]` table of a pcgate config file (defaults when absent), applies the
    /// `PCGATE_KAFKA_*` environment, and validates.
    pub fn load(config_file_text: &str) -> Result<KafkaConfig, ConfigError> {
        Self::load_with_env(config_file_text, |k| std::env::var(k).ok())
    }

    /// [`KafkaConfig::load`] with the environment given as a function (tests).
    pub fn load_with_env(
        config_file_text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<KafkaConfig, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            kafka: Option<KafkaConfig>,
        }
        let file: File = toml::from_str(config_file_text).map_err(|e| {
            let text = config_file_text;
            match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                    ConfigError::At {
                        line: before.matches('\n').count() + 1,
                        column: before.get(line_start..).map_or(0, |l| l.chars().count()) + 1,
                        field: dataplane::lines::toml_key_path(text, span.start)
                            .unwrap_or_else(|| "kafka".to_string()),
                        message: dataplane::lines::toml_message(
                            text,
                            span.start,
                            e.message().trim(),
                        ),
                    }
                }
                None => ConfigError::Toml(e.message().trim().to_string()),
            }
        })?;
        let mut cfg = file.kafka.unwrap_or_default();
        cfg.check_no_secrets_in_file()?;
        cfg.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn check_no_secrets_in_file(&self) -> Result<(), ConfigError> {
        let refuse = |field: &str, env| {
            Err(ConfigError::SecretInFile {
                field: field.to_string(),
                env,
            })
        };
        if self.sasl_password.is_some() {
            return refuse("kafka.sasl_password", ENV_SASL_PASSWORD);
        }
        if self.ssl_key_password.is_some() {
            return refuse("kafka.ssl_key_password", ENV_SSL_KEY_PASSWORD);
        }
        if self.oauthbearer.client_secret.is_some() {
            return refuse("kafka.oauthbearer.client_secret", ENV_OIDC_CLIENT_SECRET);
        }
        for (field, set, env) in [
            (
                "kafka.aws_access_key_id",
                self.aws_access_key_id.is_some(),
                ENV_ACCESS_KEY_ID,
            ),
            (
                "kafka.aws_secret_access_key",
                self.aws_secret_access_key.is_some(),
                ENV_SECRET_ACCESS_KEY,
            ),
            (
                "kafka.aws_session_token",
                self.aws_session_token.is_some(),
                ENV_SESSION_TOKEN,
            ),
        ] {
            if set {
                return refuse(field, env);
            }
        }
        for (table, props) in [
            ("properties", &self.properties),
            ("consumer_properties", &self.consumer_properties),
            ("producer_properties", &self.producer_properties),
        ] {
            for key in props.keys() {
                if let Some((_, env)) = SECRET_PROPERTIES.iter().find(|(p, _)| p == key) {
                    return refuse(&format!("kafka.{table}.\"{key}\""), env);
                }
            }
        }
        Ok(())
    }

    /// Applies `PCGATE_KAFKA_*` overrides and reads the secrets.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("PCGATE_KAFKA_BOOTSTRAP_SERVERS") {
            self.bootstrap_servers = v;
        }
        if let Some(v) = env("PCGATE_KAFKA_CLIENT_ID") {
            self.client_id = v;
        }
        if let Some(v) = env("PCGATE_KAFKA_GROUP_ID") {
            self.group_id = v;
        }
        if let Some(v) = env("PCGATE_KAFKA_INPUT_TOPIC") {
            self.input_topic = v;
        }
        if let Some(v) = env("PCGATE_KAFKA_SECURITY_PROTOCOL") {
            self.security_protocol =
                SecurityProtocol::parse(&v).ok_or_else(|| ConfigError::Env {
                    var: "PCGATE_KAFKA_SECURITY_PROTOCOL",
                    reason: format!("`{v}` is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
                })?;
        }
        if let Some(v) = env("PCGATE_KAFKA_SASL_MECHANISM") {
            self.sasl_mechanism =
                Some(SaslMechanism::parse(&v).ok_or_else(|| ConfigError::Env {
                    var: "PCGATE_KAFKA_SASL_MECHANISM",
                    reason: format!(
                        "`{v}` is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
                    ),
                })?);
        }
        if let Some(v) = env("PCGATE_KAFKA_SASL_USERNAME") {
            self.sasl_username = Some(v);
        }
        // The AWS variables are often set for other services: an empty one counts as unset.
        let aws = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(v) = env(ENV_AWS_REGION) {
            self.aws_region = Some(v);
        }
        if self.aws_region.is_none() {
            self.aws_region = aws(ENV_REGION).or_else(|| aws(ENV_DEFAULT_REGION));
        }
        self.secrets = Secrets {
            sasl_password: env(ENV_SASL_PASSWORD),
            ssl_key_password: env(ENV_SSL_KEY_PASSWORD),
            oidc_client_secret: env(ENV_OIDC_CLIENT_SECRET),
            aws_access_key_id: aws(ENV_ACCESS_KEY_ID),
            aws_secret_access_key: aws(ENV_SECRET_ACCESS_KEY),
            aws_session_token: aws(ENV_SESSION_TOKEN),
        };
        Ok(())
    }

    /// Checks that the settings fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.bootstrap_servers.trim().is_empty() {
            return invalid("kafka.bootstrap_servers", "empty");
        }
        if self.group_id.trim().is_empty() {
            return invalid("kafka.group_id", "empty");
        }
        for (field, t) in [
            ("kafka.input_topic", &self.input_topic),
            ("kafka.decisions_topic", &self.decisions_topic),
            ("kafka.blocked_topic", &self.blocked_topic),
            ("kafka.dead_letter_topic", &self.dead_letter_topic),
        ] {
            if t.is_empty() || t.len() > 249 {
                return invalid(field, "a topic name has 1 to 249 characters");
            }
        }
        if !matches!(self.auto_offset_reset.as_str(), "earliest" | "latest") {
            return invalid("kafka.auto_offset_reset", "must be `earliest` or `latest`");
        }
        if self.ssl_key_location.is_some() != self.ssl_certificate_location.is_some() {
            return invalid(
                "kafka.ssl_key_location",
                "client certificate and key go together (set both or neither)",
            );
        }
        let tls = matches!(
            self.security_protocol,
            SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
        );
        if !tls
            && (self.ssl_ca_location.is_some()
                || self.ssl_certificate_location.is_some()
                || self.ssl_key_location.is_some())
        {
            return invalid(
                "kafka.security_protocol",
                "TLS files are set but the protocol is not `ssl` or `sasl_ssl`",
            );
        }
        if self.commit_interval_ms == 0 || self.commit_every == 0 {
            return invalid(
                "kafka.commit_interval_ms",
                "commit interval and count must be > 0",
            );
        }
        if self.message_timeout_ms == 0 {
            return invalid("kafka.message_timeout_ms", "must be > 0");
        }
        if self.oauthbearer.method == OAuthMethod::AwsMskIam
            && (self.security_protocol != SecurityProtocol::SaslSsl
                || self.sasl_mechanism != Some(SaslMechanism::OAuthBearer))
        {
            return invalid(
                "kafka.oauthbearer.method",
                "`aws_msk_iam` needs security_protocol = \"sasl_ssl\" and \
                 sasl_mechanism = \"OAUTHBEARER\" (MSK's IAM listener, port 9098)",
            );
        }
        if !self.security_protocol.uses_sasl() {
            if self.sasl_mechanism.is_some() {
                return invalid(
                    "kafka.sasl_mechanism",
                    "set, but the protocol is not `sasl_ssl` or `sasl_plaintext`",
                );
            }
            return Ok(());
        }
        match self.sasl_mechanism {
            None => invalid(
                "kafka.sasl_mechanism",
                "the protocol uses SASL: set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            ),
            Some(
                SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512,
            ) => {
                if self.sasl_username.as_deref().unwrap_or("").is_empty() {
                    return invalid("kafka.sasl_username", "needed by the SASL mechanism");
                }
                if self.secrets.sasl_password.is_none() {
                    return Err(ConfigError::Env {
                        var: ENV_SASL_PASSWORD,
                        reason: "unset, and the SASL mechanism needs a password".into(),
                    });
                }
                Ok(())
            }
            Some(SaslMechanism::OAuthBearer) => match self.oauthbearer.method {
                OAuthMethod::Oidc => {
                    if self.oauthbearer.token_endpoint_url.is_none() {
                        return invalid(
                            "kafka.oauthbearer.token_endpoint_url",
                            "needed by OAUTHBEARER with method `oidc`",
                        );
                    }
                    if self.oauthbearer.client_id.is_none() {
                        return invalid(
                            "kafka.oauthbearer.client_id",
                            "needed by OAUTHBEARER with method `oidc`",
                        );
                    }
                    if self.secrets.oidc_client_secret.is_none() {
                        return Err(ConfigError::Env {
                            var: ENV_OIDC_CLIENT_SECRET,
                            reason: "unset, and OAUTHBEARER with method `oidc` needs it".into(),
                        });
                    }
                    Ok(())
                }
                OAuthMethod::UnsecuredJwt => Ok(()),
                OAuthMethod::AwsMskIam => self.msk_iam_signer().map(|_| ()),
            },
        }
    }

    /// The signer of MSK IAM tokens when the config asks for them (OAUTHBEARER over `sasl_ssl`
    /// with method `aws_msk_iam`), built from the region and the AWS credentials of the
    /// environment; an error names what is missing.
    pub fn msk_iam_signer(&self) -> Result<Option<MskIamSigner>, ConfigError> {
        if self.security_protocol != SecurityProtocol::SaslSsl
            || self.sasl_mechanism != Some(SaslMechanism::OAuthBearer)
            || self.oauthbearer.method != OAuthMethod::AwsMskIam
        {
            return Ok(None);
        }
        let region = self.aws_region.as_deref().unwrap_or("");
        if region.is_empty() {
            return Err(ConfigError::Invalid {
                field: "kafka.aws_region",
                reason: format!(
                    "needed by OAUTHBEARER with method `aws_msk_iam`: set it, or {ENV_REGION} \
                     or {ENV_DEFAULT_REGION}"
                ),
            });
        }
        msk_iam::check_region(region).map_err(|reason| ConfigError::Invalid {
            field: "kafka.aws_region",
            reason: format!("`{region}`: {reason}"),
        })?;
        let needed = |var: &'static str, value: &Option<String>| {
            value.clone().ok_or_else(|| ConfigError::Env {
                var,
                reason: "unset, and OAUTHBEARER with method `aws_msk_iam` needs it".into(),
            })
        };
        let credentials = AwsCredentials {
            access_key_id: needed(ENV_ACCESS_KEY_ID, &self.secrets.aws_access_key_id)?,
            secret_access_key: needed(ENV_SECRET_ACCESS_KEY, &self.secrets.aws_secret_access_key)?,
            session_token: self.secrets.aws_session_token.clone(),
        };
        Ok(Some(MskIamSigner::new(region, credentials)))
    }

    /// The name of an outbound topic.
    pub fn topic_name(&self, topic: OutTopic) -> &str {
        match topic {
            OutTopic::Decisions => &self.decisions_topic,
            OutTopic::Blocked => &self.blocked_topic,
            OutTopic::DeadLetter => &self.dead_letter_topic,
        }
    }

    /// Settings both clients share: brokers, identity, security.
    fn common(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol.as_librdkafka());
        if let Some(p) = &self.ssl_ca_location {
            c.set("ssl.ca.location", p.to_string_lossy());
        }
        if let Some(p) = &self.ssl_certificate_location {
            c.set("ssl.certificate.location", p.to_string_lossy());
        }
        if let Some(p) = &self.ssl_key_location {
            c.set("ssl.key.location", p.to_string_lossy());
        }
        if let Some(pw) = &self.secrets.ssl_key_password {
            c.set("ssl.key.password", pw);
        }
        if matches!(
            self.security_protocol,
            SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
        ) {
            c.set(
                "ssl.endpoint.identification.algorithm",
                if self.ssl_verify_hostname {
                    "https"
                } else {
                    "none"
                },
            );
        }
        if self.security_protocol.uses_sasl() {
            if let Some(m) = self.sasl_mechanism {
                c.set("sasl.mechanism", m.as_librdkafka());
                match m {
                    SaslMechanism::OAuthBearer => {
                        let o = &self.oauthbearer;
                        match o.method {
                            OAuthMethod::Oidc => {
                                c.set("sasl.oauthbearer.method", "oidc");
                                if let Some(v) = &o.token_endpoint_url {
                                    c.set("sasl.oauthbearer.token.endpoint.url", v);
                                }
                                if let Some(v) = &o.client_id {
                                    c.set("sasl.oauthbearer.client.id", v);
                                }
                                if let Some(v) = &self.secrets.oidc_client_secret {
                                    c.set("sasl.oauthbearer.client.secret", v);
                                }
                                if let Some(v) = &o.scope {
                                    c.set("sasl.oauthbearer.scope", v);
                                }
                                if let Some(v) = &o.extensions {
                                    c.set("sasl.oauthbearer.extensions", v);
                                }
                            }
                            OAuthMethod::UnsecuredJwt => {
                                c.set("enable.sasl.oauthbearer.unsecure.jwt", "true");
                                let principal =
                                    o.unsecured_principal.as_deref().unwrap_or("pcgate");
                                c.set("sasl.oauthbearer.config", format!("principal={principal}"));
                            }
                            // librdkafka's default method: it asks the client's context for
                            // each token (see `msk_iam_signer`).
                            OAuthMethod::AwsMskIam => {}
                        }
                    }
                    _ => {
                        if let Some(u) = &self.sasl_username {
                            c.set("sasl.username", u);
                        }
                        if let Some(pw) = &self.secrets.sasl_password {
                            c.set("sasl.password", pw);
                        }
                    }
                }
            }
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// The consumer's configuration: group member, manual offset store and commit.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.common();
        c.set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &self.auto_offset_reset)
            .set("enable.partition.eof", "false")
            .set("queued.min.messages", "200000")
            .set("fetch.wait.max.ms", "50")
            // When the prefetch queue is full (64 MB by default), librdkafka waits this long
            // before it fetches again; its default of a second left the loop without records for
            // most of each second once it drained the queue faster than that.
            .set("fetch.queue.backoff.ms", "10");
        for (k, v) in &self.consumer_properties {
            c.set(k, v);
        }
        c
    }

    /// The producer's configuration: idempotent, acks from all replicas, batched.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.common();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_size.to_string())
            .set("batch.num.messages", "100000")
            .set("compression.type", &self.compression)
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576");
        for (k, v) in &self.producer_properties {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn toml_errors_name_line_column_and_field() {
        let e = KafkaConfig::load_with_env("[kafka]\nbootstrap_servers = 5\n", no_env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2:21: field `kafka.bootstrap_servers`: invalid type: integer `5`, expected a string"
        );
        let e = KafkaConfig::load_with_env("[kafka]\ngroup_idd = \"x\"\n", no_env).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("2:1: field `kafka.group_idd`: unknown field `group_idd`"),
            "{text}"
        );
    }

    #[test]
    fn empty_file_gives_defaults_with_contract_topic_names() {
        let c = KafkaConfig::load_with_env("", no_env).unwrap();
        assert_eq!(c.input_topic, "network-traffic");
        assert_eq!(c.topic_name(OutTopic::Decisions), "policy-decisions");
        assert_eq!(c.topic_name(OutTopic::Blocked), "blocked-requests");
        assert_eq!(c.topic_name(OutTopic::DeadLetter), "network-traffic.dlq");
        let p = c.producer_config();
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("acks"), Some("all"));
        let k = c.consumer_config();
        assert_eq!(k.get("enable.auto.commit"), Some("false"));
        assert_eq!(k.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(k.get("group.id"), Some("pcgate"));
        assert_eq!(k.get("fetch.queue.backoff.ms"), Some("10"));
    }

    #[test]
    fn scram_over_tls_takes_password_from_env_only() {
        let text = r#"
            [kafka]
            bootstrap_servers = "b1:9096,b2:9096"
            security_protocol = "sasl_ssl"
            sasl_mechanism = "SCRAM-SHA-512"
            sasl_username = "pcgate"
            ssl_ca_location = "/etc/ca.pem"
            [kafka.properties]
            "socket.keepalive.enable" = "true"
        "#;
        let env = |k: &str| (k == ENV_SASL_PASSWORD).then(|| "s3cret".to_string());
        let c = KafkaConfig::load_with_env(text, env).unwrap();
        let p = c.producer_config();
        assert_eq!(p.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(p.get("sasl.password"), Some("s3cret"));
        assert_eq!(p.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(p.get("socket.keepalive.enable"), Some("true"));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secret in Debug output"
        );
        // Without the variable: a clear error naming it.
        let err = KafkaConfig::load_with_env(text, no_env).unwrap_err();
        assert!(err.to_string().contains(ENV_SASL_PASSWORD), "{err}");
    }

    #[test]
    fn secret_in_file_is_refused_naming_field_and_env_var() {
        let err =
            KafkaConfig::load_with_env("[kafka]\nsasl_password = \"x\"\n", no_env).unwrap_err();
        assert_eq!(
            err,
            ConfigError::SecretInFile {
                field: "kafka.sasl_password".into(),
                env: ENV_SASL_PASSWORD
            }
        );
        let err = KafkaConfig::load_with_env(
            "[kafka.properties]\n\"ssl.key.password\" = \"x\"\n",
            no_env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("ssl.key.password"), "{err}");
        assert!(err.to_string().contains(ENV_SSL_KEY_PASSWORD), "{err}");
        let err =
            KafkaConfig::load_with_env("[kafka.oauthbearer]\nclient_secret = \"x\"\n", no_env)
                .unwrap_err();
        assert!(err.to_string().contains(ENV_OIDC_CLIENT_SECRET), "{err}");
    }

    #[test]
    fn oauthbearer_oidc_sets_librdkafka_oidc_properties() {
        let text = r#"
            [kafka]
            security_protocol = "sasl_ssl"
            sasl_mechanism = "OAUTHBEARER"
            [kafka.oauthbearer]
            token_endpoint_url = "https://idp/token"
            client_id = "pcgate"
            scope = "kafka"
        "#;
        let env = |k: &str| (k == ENV_OIDC_CLIENT_SECRET).then(|| "cs".to_string());
        let c = KafkaConfig::load_with_env(text, env).unwrap();
        let p = c.consumer_config();
        assert_eq!(p.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(p.get("sasl.oauthbearer.method"), Some("oidc"));
        assert_eq!(
            p.get("sasl.oauthbearer.token.endpoint.url"),
            Some("https://idp/token")
        );
        assert_eq!(p.get("sasl.oauthbearer.client.secret"), Some("cs"));
        let err = KafkaConfig::load_with_env(text, no_env).unwrap_err();
        assert!(err.to_string().contains(ENV_OIDC_CLIENT_SECRET), "{err}");
    }

    #[test]
    fn env_overrides_file_and_bad_values_name_the_variable() {
        let env = |k: &str| match k {
            "PCGATE_KAFKA_BOOTSTRAP_SERVERS" => Some("x:1".to_string()),
            "PCGATE_KAFKA_GROUP_ID" => Some("g2".to_string()),
            _ => None,
        };
        let c = KafkaConfig::load_with_env("[kafka]\ngroup_id = \"g1\"\n", env).unwrap();
        assert_eq!(c.bootstrap_servers, "x:1");
        assert_eq!(c.group_id, "g2");
        let env = |k: &str| (k == "PCGATE_KAFKA_SECURITY_PROTOCOL").then(|| "tls".to_string());
        let err = KafkaConfig::load_with_env("", env).unwrap_err();
        assert!(err.to_string().contains("PCGATE_KAFKA_SECURITY_PROTOCOL"));
    }

    #[test]
    fn inconsistent_settings_are_rejected() {
        for text in [
            "[kafka]\nunknown_field = 1\n",
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\n",
            "[kafka]\nsasl_mechanism = \"PLAIN\"\n",
            "[kafka]\nssl_ca_location = \"/ca.pem\"\n",
            "[kafka]\nsecurity_protocol = \"ssl\"\nssl_key_location = \"/k.pem\"\n",
            "[kafka]\nauto_offset_reset = \"middle\"\n",
            "[kafka]\ninput_topic = \"\"\n",
        ] {
            assert!(
                KafkaConfig::load_with_env(text, no_env).is_err(),
                "accepted: {text}"
            );
        }
    }

    const MSK_IAM: &str = r#"
        [kafka]
        bootstrap_servers = "b-1.pc.kafka.eu-west-1.amazonaws.com:9098"
        security_protocol = "sasl_ssl"
        sasl_mechanism = "OAUTHBEARER"
        aws_region = "eu-west-1"
        [kafka.oauthbearer]
        method = "aws_msk_iam"
    "#;

    /// The standard AWS variables, with the documentation's example credentials.
    fn aws_env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIAIOSFODNN7EXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
            "AWS_SESSION_TOKEN" => Some("FwoGZXIvYXdzEXAMPLETOKEN".into()),
            _ => None,
        }
    }

    #[test]
    fn msk_iam_takes_credentials_from_the_aws_variables_and_keeps_them_out_of_librdkafka() {
        let c = KafkaConfig::load_with_env(MSK_IAM, aws_env).unwrap();
        assert_eq!(c.oauthbearer.method, OAuthMethod::AwsMskIam);
        let signer = c.msk_iam_signer().unwrap().expect("a signer");
        assert_eq!(signer.region(), "eu-west-1");
        assert_eq!(signer.principal(), "AKIAIOSFODNN7EXAMPLE");
        for p in [c.producer_config(), c.consumer_config()] {
            assert_eq!(p.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(p.get("sasl.mechanism"), Some("OAUTHBEARER"));
            // librdkafka's default method: it asks the client's context for the token.
            assert_eq!(p.get("sasl.oauthbearer.method"), None);
            assert_eq!(p.get("enable.sasl.oauthbearer.unsecure.jwt"), None);
            for (k, v) in p.config_map() {
                assert!(
                    !v.contains("wJalrXUtnFEMI") && !v.contains("FwoGZXIvYXdz"),
                    "an AWS secret in librdkafka property {k}"
                );
            }
        }
        let debug = format!("{c:?} {signer:?}");
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
        assert!(!debug.contains("FwoGZXIvYXdz"), "{debug}");
        // Other mechanisms have no signer.
        let scram = KafkaConfig::load_with_env(
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
             sasl_username = \"u\"\n",
            |k| (k == ENV_SASL_PASSWORD).then(|| "pw".to_string()),
        )
        .unwrap();
        assert!(scram.msk_iam_signer().unwrap().is_none());
    }

    #[test]
    fn msk_iam_region_comes_from_the_file_then_aws_region_then_aws_default_region() {
        let without_region = MSK_IAM.replace("aws_region = \"eu-west-1\"", "");
        let region = |text: &str, vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let env = |k: &str| {
                vars.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .or_else(|| aws_env(k))
            };
            let c = KafkaConfig::load_with_env(text, env).unwrap();
            c.msk_iam_signer().unwrap().unwrap().region().to_string()
        };
        assert_eq!(
            region(&without_region, &[("AWS_DEFAULT_REGION", "us-east-2")]),
            "us-east-2"
        );
        assert_eq!(
            region(
                &without_region,
                &[
                    ("AWS_REGION", "eu-central-1"),
                    ("AWS_DEFAULT_REGION", "us-east-2")
                ]
            ),
            "eu-central-1"
        );
        assert_eq!(
            region(
                &without_region,
                &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-2")]
            ),
            "us-east-2"
        );
        assert_eq!(
            region(MSK_IAM, &[("AWS_REGION", "eu-central-1")]),
            "eu-west-1"
        );
        assert_eq!(
            region(MSK_IAM, &[(ENV_AWS_REGION, "ap-south-1")]),
            "ap-south-1"
        );
    }

    #[test]
    fn msk_iam_without_sasl_ssl_and_oauthbearer_is_rejected() {
        for (protocol, mechanism) in [
            ("ssl", None),
            ("sasl_plaintext", Some("OAUTHBEARER")),
            ("sasl_ssl", Some("SCRAM-SHA-512")),
            ("sasl_ssl", None),
        ] {
            let mut text = format!(
                "[kafka]\nsecurity_protocol = \"{protocol}\"\naws_region = \"eu-west-1\"\n"
            );
            if let Some(m) = mechanism {
                text += &format!("sasl_mechanism = \"{m}\"\nsasl_username = \"u\"\n");
            }
            text += "[kafka.oauthbearer]\nmethod = \"aws_msk_iam\"\n";
            let env = |k: &str| aws_env(k).or_else(|| (k == ENV_SASL_PASSWORD).then(String::new));
            match KafkaConfig::load_with_env(&text, env) {
                Err(ConfigError::Invalid { field, reason }) => {
                    assert_eq!(field, "kafka.oauthbearer.method", "{text}");
                    assert!(reason.contains("sasl_ssl") && reason.contains("OAUTHBEARER"));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn msk_iam_names_the_missing_region_or_aws_variable() {
        let without_region = MSK_IAM.replace("aws_region = \"eu-west-1\"", "");
        let err = KafkaConfig::load_with_env(&without_region, aws_env).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: "kafka.aws_region", reason }
                if reason.contains("AWS_REGION") && reason.contains("AWS_DEFAULT_REGION")),
            "{err}"
        );
        let bad_region = MSK_IAM.replace("eu-west-1", "EU West 1");
        let err = KafkaConfig::load_with_env(&bad_region, aws_env).unwrap_err();
        assert!(err.to_string().contains("kafka.aws_region"), "{err}");
        for (missing, empty) in [
            ("AWS_ACCESS_KEY_ID", false),
            ("AWS_SECRET_ACCESS_KEY", false),
            ("AWS_SECRET_ACCESS_KEY", true),
        ] {
            let env = |k: &str| {
                if k == missing {
                    empty.then(String::new)
                } else {
                    aws_env(k)
                }
            };
            let err = KafkaConfig::load_with_env(MSK_IAM, env).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Env { var, .. } if *var == missing),
                "{missing}: {err}"
            );
            assert!(err.to_string().contains(missing), "{err}");
        }
        // A session token is optional (long-term keys).
        let env = |k: &str| (k != "AWS_SESSION_TOKEN").then(|| aws_env(k)).flatten();
        assert!(KafkaConfig::load_with_env(MSK_IAM, env).is_ok());
    }

    #[test]
    fn aws_credentials_in_the_file_are_refused() {
        for (field, env) in [
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("aws_session_token", "AWS_SESSION_TOKEN"),
        ] {
            let text = MSK_IAM.replace(
                "aws_region = \"eu-west-1\"",
                &format!("aws_region = \"eu-west-1\"\n{field} = \"x\""),
            );
            let err = KafkaConfig::load_with_env(&text, aws_env).unwrap_err();
            assert_eq!(
                err,
                ConfigError::SecretInFile {
                    field: format!("kafka.{field}"),
                    env
                }
            );
        }
    }

    #[test]
    fn built_configs_are_accepted_by_librdkafka() {
        let c = KafkaConfig::default();
        let _p: rdkafka::producer::BaseProducer = c.producer_config().create().unwrap();
        let _k: rdkafka::consumer::BaseConsumer = c.consumer_config().create().unwrap();
    }
}
