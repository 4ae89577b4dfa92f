//! Amazon MSK IAM authentication: the SASL/OAUTHBEARER token that the IAM listener of an MSK
//! cluster (port 9098) accepts.
//!
//! The token is built the way AWS's own signers build it (aws-msk-iam-sasl-signer-python, -go,
//! -js): an AWS Signature Version 4 *presigned* URL for
//! `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect` (service
//! `kafka-cluster`, `X-Amz-Expires=900`, only the `host` header signed, the payload hash of the
//! empty body), then a `User-Agent` query parameter added after signing, the whole URL
//! base64url-encoded without padding. The broker checks the signature with IAM; the IAM policy of
//! the credentials decides what the client may do. The token's expiry (signing time + 900 s, in
//! milliseconds since the Unix epoch) is what librdkafka is handed; it asks for a new token at 80 %
//! of that lifetime.
//!
//! SigV4 follows AWS's "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"
//! (canonical request, string to sign, derived signing key); HMAC-SHA256 and SHA-256 come from
//! RustCrypto's `hmac` and `sha2`.
//!
//! Credentials come from the standard environment variables only (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read once at start-up by the
//! [config](super::config). Deliberately not here: profile files, instance metadata, web identity
//! or STS role assumption. Temporary credentials (with a session token) are not renewed: pcgate
//! must be restarted with fresh ones before they expire.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The access key id.
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// The session token of temporary credentials.
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The region, when the config does not name one.
pub const ENV_REGION: &str = "AWS_REGION";
/// The region, when neither the config nor [`ENV_REGION`] names one.
pub const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";

/// How long a token is valid, as the AWS signers set it.
pub const TOKEN_LIFETIME_SECS: u64 = 900;

/// The service name MSK signs for.
const SERVICE: &str = "kafka-cluster";
/// The IAM action that a connection needs.
const ACTION: &str = "kafka-cluster:Connect";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

type HmacSha256 = Hmac<Sha256>;

/// AWS credentials. `Debug` never shows the secret key or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<set>")
            .field(
                "session_token",
                &if self.session_token.is_some() {
                    "<set>"
                } else {
                    "<unset>"
                },
            )
            .finish()
    }
}

/// An MSK IAM auth token and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthToken {
    /// The base64url-encoded presigned URL (no padding).
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

/// Signs MSK IAM auth tokens for one region with one set of credentials.
#[derive(Clone, Debug)]
pub struct MskIamSigner {
    region: String,
    credentials: AwsCredentials,
    user_agent: String,
}

impl MskIamSigner {
    /// A signer for the cluster's region. The region is checked by [`check_region`] before.
    pub fn new(region: &str, credentials: AwsCredentials) -> MskIamSigner {
        MskIamSigner {
            region: region.to_string(),
            credentials,
            user_agent: concat!("pcgate/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The principal librdkafka is told about (client side only): the access key id.
    pub fn principal(&self) -> &str {
        &self.credentials.access_key_id
    }

    /// A token signed now.
    pub fn token(&self) -> AuthToken {
        self.token_at(Utc::now())
    }

    /// A token signed at `now` (whole seconds count, as in `X-Amz-Date`).
    pub fn token_at(&self, now: DateTime<Utc>) -> AuthToken {
        let url = self.presigned_url_at(now);
        AuthToken {
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url),
            expires_at_ms: (now.timestamp() + TOKEN_LIFETIME_SECS as i64) * 1000,
        }
    }

    /// The presigned URL that the token encodes.
    fn presigned_url_at(&self, now: DateTime<Utc>) -> String {
        let host = format!("kafka.{}.amazonaws.com", self.region);
        // The signers presign with the hash of the empty body (`UNSIGNED-PAYLOAD` is S3's).
        let empty_body = hex(&Sha256::digest(b""));
        let mut url = presign(
            &Presign {
                host: &host,
                path: "/",
                params: &[("Action", ACTION)],
                service: SERVICE,
                region: &self.region,
                expires_secs: TOKEN_LIFETIME_SECS,
                payload_sha256: &empty_body,
            },
            &self.credentials,
            now,
        );
        // Added after signing, as the AWS signers do: not part of the signature.
        url.push_str("&User-Agent=");
        url.push_str(&uri_encode(&self.user_agent));
        url
    }
}

/// Checks that a region name can go into a host name and a credential scope (`eu-west-1`).
pub fn check_region(region: &str) -> Result<(), &'static str> {
    if region.is_empty() {
        return Err("empty");
    }
    let ok = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok || region.starts_with('-') || region.ends_with('-') {
        return Err("not a region name (lower-case letters, digits and `-`, like `eu-west-1`)");
    }
    Ok(())
}

/// A `GET` to presign with SigV4 query parameters; only the `host` header is signed.
struct Presign<'a> {
    host: &'a str,
    /// Absolute path, already in canonical form (`/`, `/test.txt`).
    path: &'a str,
    /// The operation's own query parameters, unencoded.
    params: &'a [(&'a str, &'a str)],
    service: &'a str,
    region: &'a str,
    expires_secs: u64,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    payload_sha256: &'a str,
}

/// The presigned `https` URL: the operation's parameters, the authentication parameters (in the
/// order botocore writes them), then `X-Amz-Signature`.
fn presign(req: &Presign<'_>, creds: &AwsCredentials, now: DateTime<Utc>) -> String {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
    let credential = format!("{}/{scope}", creds.access_key_id);
    let expires = req.expires_secs.to_string();
    let mut params: Vec<(&str, &str)> = req.params.to_vec();
    params.extend([
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    if let Some(t) = &creds.session_token {
        params.push(("X-Amz-Security-Token", t.as_str()));
    }
    let encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    let canonical = canonical_request(req, &encoded);
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&creds.secret_access_key, date, req.region, req.service);
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    let mut url = format!("https://{}{}?", req.host, req.path);
    for (k, v) in &encoded {
        url.push_str(k);
        url.push('=');
        url.push_str(v);
        url.push('&');
    }
    url.push_str("X-Amz-Signature=");
    url.push_str(&signature);
    url
}

/// The canonical request of a presigned `GET`: parameters sorted by encoded name and value, the
/// `host` header, the payload hash.
fn canonical_request(req: &Presign<'_>, encoded_params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = encoded_params.iter().collect();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "GET\n{}\n{}\nhost:{}\n\nhost\n{}",
        req.path,
        query.join("&"),
        req.host,
        req.payload_sha256
    )
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104 hashes long ones): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// SigV4 URI encoding of a query name or value: every byte but the unreserved
/// `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex), `/` included.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// AWS's documentation example credentials.
    fn example_credentials(session_token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: session_token.map(str::to_string),
        }
    }

    /// The signer of `fixtures/aws/msk_iam_reference.py`: eu-west-1, user agent `pcgate/test`.
    fn reference_signer(session_token: Option<&str>) -> MskIamSigner {
        let mut s = MskIamSigner::new("eu-west-1", example_credentials(session_token));
        s.user_agent = "pcgate/test".into();
        s
    }

    fn reference_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 12, 34, 56).unwrap()
    }

    const REFERENCE_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE/session+token==";

    /// Percent-decodes a query name or value.
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// Splits a token's URL into (host, path, decoded query parameters in order).
    fn parse_token(token: &str) -> (String, String, Vec<(String, String)>) {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .expect("base64url without padding");
        let url = String::from_utf8(url).unwrap();
        let rest = url.strip_prefix("https://").expect("https URL");
        let (host_path, query) = rest.split_once('?').expect("a query");
        let slash = host_path.find('/').unwrap();
        let params = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect();
        (
            host_path[..slash].to_string(),
            host_path[slash..].to_string(),
            params,
        )
    }

    /// Recomputes the signature of a parsed token from its signed parameters (all but
    /// `X-Amz-Signature` and `User-Agent`) with the given secret.
    fn recompute_signature(
        host: &str,
        path: &str,
        params: &[(String, String)],
        secret: &str,
    ) -> String {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        let signed: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature" && k != "User-Agent")
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        let credential = get("X-Amz-Credential");
        let scope: Vec<&str> = credential.split('/').collect();
        let (date, region, service) = (scope[1], scope[2], scope[3]);
        let empty = hex(&Sha256::digest(b""));
        let req = Presign {
            host,
            path,
            params: &[],
            service,
            region,
            expires_secs: 0,
            payload_sha256: &empty,
        };
        let canonical = canonical_request(&req, &signed);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            get("X-Amz-Date"),
            scope[1..].join("/"),
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        hex(&hmac_sha256(
            &signing_key(secret, date, region, service),
            to_sign.as_bytes(),
        ))
    }

    #[test]
    fn presigned_url_matches_the_aws_s3_documentation_example() {
        // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3
        // API Reference: GET examplebucket/test.txt, 24 May 2013 00:00:00 UTC, 86400 s, the
        // example credentials; the page prints the canonical request's SHA-256 and the signature.
        let req = Presign {
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            params: &[],
            service: "s3",
            region: "us-east-1",
            expires_secs: 86400,
            payload_sha256: "UNSIGNED-PAYLOAD",
        };
        let now = Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap();
        let url = presign(&req, &example_credentials(None), now);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt\
             ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        let (_, _, params) =
            parse_token(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&url));
        let encoded: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        assert_eq!(
            hex(&Sha256::digest(
                canonical_request(&req, &encoded).as_bytes()
            )),
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
    }

    #[test]
    fn token_is_byte_for_byte_what_botocore_signs() {
        // Expected values printed by `python3 fixtures/aws/msk_iam_reference.py` (botocore 1.43.11,
        // SigV4QueryAuth as aws-msk-iam-sasl-signer-python uses it, clock fixed at
        // 2024-03-01T12:34:56Z, region eu-west-1, user agent pcgate/test).
        let without_session = "aHR0cHM6Ly9rYWZrYS5ldS13ZXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUlPU0ZPRE5ON0VYQU1QTEUlMkYyMDI0MDMwMSUyRmV1LXdlc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TaWduYXR1cmU9ZDRjMjU0ZGVjYzQ5ZmM3ODU0OTYzZDJmMTcxYTU4OTA5MzdjOTViODFkMzUzN2EzNDRkNTEyMjRjNDM4NmM2OCZVc2VyLUFnZW50PXBjZ2F0ZSUyRnRlc3Q";
        let with_session = "aHR0cHM6Ly9rYWZrYS5ldS13ZXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUlPU0ZPRE5ON0VYQU1QTEUlMkYyMDI0MDMwMSUyRmV1LXdlc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TZWN1cml0eS1Ub2tlbj1JUW9KYjNKcFoybHVYMlZqRVhBTVBMRSUyRnNlc3Npb24lMkJ0b2tlbiUzRCUzRCZYLUFtei1TaWduYXR1cmU9MWEzNjEyYjJkMTU2ODYyOWRkM2EwN2I2ZDYyNDYwOTdjYTE4OTE2OTFlYjhmZTdhNDZkMTU0YjNhYjBhNjg5YSZVc2VyLUFnZW50PXBjZ2F0ZSUyRnRlc3Q";
        let t = reference_signer(None).token_at(reference_time());
        assert_eq!(t.token, without_session);
        let t = reference_signer(Some(REFERENCE_SESSION_TOKEN)).token_at(reference_time());
        assert_eq!(t.token, with_session);
        // 2024-03-01T12:34:56Z + 900 s.
        assert_eq!(t.expires_at_ms, 1_709_297_396_000);
    }

    #[test]
    fn token_is_a_presigned_kafka_cluster_connect_url_whose_signature_verifies() {
        let signer = reference_signer(Some(REFERENCE_SESSION_TOKEN));
        let now = reference_time() + chrono::Duration::milliseconds(730);
        let t = signer.token_at(now);
        assert!(
            t.token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "not base64url without padding: {}",
            t.token
        );
        assert_eq!(t.expires_at_ms, (now.timestamp() + 900) * 1000);
        let (host, path, params) = parse_token(&t.token);
        assert_eq!(host, "kafka.eu-west-1.amazonaws.com");
        assert_eq!(path, "/");
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Action",
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Security-Token",
                "X-Amz-Signature",
                "User-Agent"
            ]
        );
        let get = |name: &str| params.iter().find(|(k, _)| k == name).unwrap().1.clone();
        assert_eq!(get("Action"), "kafka-cluster:Connect");
        assert_eq!(get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
        assert_eq!(
            get("X-Amz-Credential"),
            "AKIAIOSFODNN7EXAMPLE/20240301/eu-west-1/kafka-cluster/aws4_request"
        );
        assert_eq!(get("X-Amz-Date"), "20240301T123456Z");
        assert_eq!(get("X-Amz-Expires"), "900");
        assert_eq!(get("X-Amz-SignedHeaders"), "host");
        assert_eq!(get("X-Amz-Security-Token"), REFERENCE_SESSION_TOKEN);
        assert_eq!(get("User-Agent"), "pcgate/test");
        let secret = &example_credentials(None).secret_access_key;
        assert_eq!(
            recompute_signature(&host, &path, &params, secret),
            get("X-Amz-Signature")
        );
        // The check is not vacuous: a changed signed parameter or another secret does not verify.
        let mut tampered = params.clone();
        tampered[0].1 = "kafka-cluster:AlterCluster".into();
        assert_ne!(
            recompute_signature(&host, &path, &tampered, secret),
            get("X-Amz-Signature")
        );
        assert_ne!(
            recompute_signature(&host, &path, &params, "another-secret"),
            get("X-Amz-Signature")
        );
        // The user agent is not signed: it may change without breaking the signature.
        let mut ua = params.clone();
        ua.last_mut().unwrap().1 = "something-else".into();
        assert_eq!(
            recompute_signature(&host, &path, &ua, secret),
            get("X-Amz-Signature")
        );
    }

    #[test]
    fn long_term_keys_give_no_security_token_parameter() {
        let t = reference_signer(None).token_at(reference_time());
        let (_, _, params) = parse_token(&t.token);
        assert!(params.iter().all(|(k, _)| k != "X-Amz-Security-Token"));
        assert_eq!(params.len(), 8);
    }

    #[test]
    fn debug_output_hides_the_secret_and_the_session_token() {
        let s = format!("{:?}", reference_signer(Some(REFERENCE_SESSION_TOKEN)));
        assert!(s.contains("AKIAIOSFODNN7EXAMPLE"), "{s}");
        assert!(!s.contains("wJalrXUtnFEMI"), "{s}");
        assert!(!s.contains("IQoJb3JpZ2lu"), "{s}");
    }

    #[test]
    fn region_names_are_checked() {
        for ok in ["eu-west-1", "us-gov-west-1", "cn-north-1"] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "EU-WEST-1", "eu west 1", "eu-west-1/x", "-eu", "eu-"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
