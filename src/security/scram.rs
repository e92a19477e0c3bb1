//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, with credentials as Kafka's
//! `ScramCredentialUtils` writes them into `/config/users/<user>`:
//! `SCRAM-SHA-256` → `salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac};

/// The two SCRAM mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data)
            .as_ref()
            .to_vec()
    }

    /// RFC 5802's SaltedPassword: Hi() (PBKDF2 with the mechanism's HMAC).
    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let alg = match self {
            ScramMechanism::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        };
        let mut salted = vec![0u8; self.digest_alg().output_len()];
        let rounds =
            std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        ring::pbkdf2::derive(alg, rounds, salt, password.as_bytes(), &mut salted);
        salted
    }

    /// RFC 5802's Hi() (PBKDF2 with HMAC), then ClientKey/StoredKey/ServerKey: what
    /// `kafka-configs --add-config 'SCRAM-SHA-256=[password=...]'` stores.
    pub fn credential(self, password: &str, salt: &[u8], iterations: u32) -> ScramCredential {
        let salted = self.salted_password(password, salt, iterations);
        let client_key = self.hmac(&salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: digest::digest(self.digest_alg(), &client_key)
                .as_ref()
                .to_vec(),
            server_key: self.hmac(&salted, b"Server Key"),
            iterations,
        }
    }
}

/// One user's stored credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    /// Parses Kafka's `salt=...,stored_key=...,server_key=...,iterations=...`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut salt = None;
        let mut stored = None;
        let mut server = None;
        let mut iterations = None;
        for part in value.split(',') {
            let (k, v) = part.split_once('=')?;
            match k {
                "salt" => salt = B64.decode(v).ok(),
                "stored_key" => stored = B64.decode(v).ok(),
                "server_key" => server = B64.decode(v).ok(),
                "iterations" => iterations = v.parse().ok(),
                _ => {}
            }
        }
        Some(ScramCredential {
            salt: salt?,
            stored_key: stored?,
            server_key: server?,
            iterations: iterations?,
        })
    }

    /// Kafka's text form.
    pub fn to_config_value(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }
}

/// Kafka's answer to a client proof that does not match (a `SaslException` in `ScramSaslServer`,
/// reported by `SaslServerAuthenticator` with the mechanism's name).
pub fn invalid_credentials(m: ScramMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.name()
    )
}

/// Compares secrets without stopping at the first difference (no timing hint of how much
/// matched); a length difference is not hidden.
pub fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client-first message, parsed.
#[derive(Debug)]
pub struct ClientFirst {
    pub username: String,
    pub nonce: String,
    /// `n=...,r=...` and what follows: the first part of the AuthMessage.
    pub bare: String,
    /// The GS2 header, echoed base64-encoded in the client-final message's `c=`.
    pub gs2_header: String,
}

/// Parses `n,,n=<user>,r=<nonce>[,<extensions>]` (SCRAM usernames escape `,` and `=` as `=2C`
/// and `=3D`).
pub fn parse_client_first(msg: &str) -> Result<ClientFirst, String> {
    let mut parts = msg.splitn(3, ',');
    let (Some(cbind), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid SCRAM client first message".into());
    };
    if cbind != "n" && cbind != "y" {
        return Err("Invalid SCRAM client first message: channel binding is not supported".into());
    }
    let mut username = None;
    let mut nonce = None;
    for attr in bare.split(',') {
        if let Some(v) = attr.strip_prefix("n=") {
            username = Some(v.replace("=2C", ",").replace("=3D", "="));
        } else if let Some(v) = attr.strip_prefix("r=") {
            nonce = Some(v.to_owned());
        }
    }
    let (Some(username), Some(nonce)) = (username, nonce) else {
        return Err("Invalid SCRAM client first message".into());
    };
    if let Some(a) = authzid.strip_prefix("a=") {
        if a != username {
            return Err(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .into(),
            );
        }
    }
    Ok(ClientFirst {
        username,
        nonce,
        bare: bare.to_owned(),
        gs2_header: format!("{cbind},{authzid},"),
    })
}

/// The server side after the client-first message: sends server-first, checks client-final.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    first: ClientFirst,
    credential: ScramCredential,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// Starts the exchange with a fresh server nonce; returns the server-first message too.
    pub fn start(
        mechanism: ScramMechanism,
        first: ClientFirst,
        credential: ScramCredential,
    ) -> (Self, String) {
        use rand::Rng;
        let server_nonce: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let out = server_first.clone();
        (
            ScramServer {
                mechanism,
                first,
                credential,
                server_first,
                nonce,
            },
            out,
        )
    }

    /// The user this exchange authenticates.
    pub fn username(&self) -> &str {
        &self.first.username
    }

    /// Checks `c=...,r=...,p=...`; `Ok` carries the server-final message (`v=<signature>`).
    pub fn finish(&self, msg: &str) -> Result<String, String> {
        let invalid = || invalid_credentials(self.mechanism);
        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or_else(invalid)?;
        let mut channel = None;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(v) = attr.strip_prefix("c=") {
                channel = Some(v);
            } else if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err("Invalid SCRAM client final message: nonce mismatch".into());
        }
        if channel != Some(B64.encode(&self.first.gs2_header).as_str()) {
            return Err("Invalid SCRAM client final message: channel binding mismatch".into());
        }
        let proof = B64.decode(proof).map_err(|_| invalid())?;
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let m = self.mechanism;
        let signature = m.hmac(&self.credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(invalid());
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let stored = digest::digest(m.digest_alg(), &client_key);
        if !equal_in_constant_time(stored.as_ref(), &self.credential.stored_key) {
            return Err(invalid());
        }
        let server_signature = m.hmac(&self.credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// The client side, for inter-broker connections.
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    bare: String,
    nonce: String,
}

impl ScramClient {
    /// The client-first message.
    pub fn start(mechanism: ScramMechanism, username: &str) -> (Self, String) {
        use rand::Rng;
        let nonce: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let user = username.replace('=', "=3D").replace(',', "=2C");
        let bare = format!("n={user},r={nonce}");
        let first = format!("n,,{bare}");
        (
            ScramClient {
                mechanism,
                password: String::new(),
                bare,
                nonce,
            },
            first,
        )
    }

    pub fn with_password(mut self, password: &str) -> Self {
        self.password = password.to_owned();
        self
    }

    /// Answers server-first with client-final; returns it and the server signature to expect.
    pub fn respond(&self, server_first: &str) -> Result<(String, String), String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = attr.strip_prefix("s=") {
                salt = B64.decode(v).ok();
            } else if let Some(v) = attr.strip_prefix("i=") {
                iterations = v.parse::<u32>().ok();
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!(
                "invalid SCRAM server first message {server_first:?}"
            ));
        };
        if !nonce.starts_with(&self.nonce) || iterations > 1_000_000 {
            return Err("invalid SCRAM server first message".into());
        }
        let m = self.mechanism;
        let salted = m.salted_password(&self.password, &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = digest::digest(m.digest_alg(), &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        let signature = m.hmac(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        let expected = format!(
            "v={}",
            B64.encode(m.hmac(&server_key, auth_message.as_bytes()))
        );
        Ok((format!("{without_proof},p={}", B64.encode(proof)), expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector_and_a_round_trip() {
        // RFC 7677 section 3: user "user", password "pencil".
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = ScramMechanism::Sha256.credential("pencil", &salt, 4096);
        let first = parse_client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let (mut server, _) = ScramServer::start(ScramMechanism::Sha256, first, cred.clone());
        // Replay the RFC's exchange with its server nonce.
        server.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        server.server_first = format!("r={},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", server.nonce);
        let fin = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            server.finish(fin).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(
            ScramCredential::parse(&cred.to_config_value()),
            Some(cred.clone())
        );

        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let cred = m.credential("alice-secret", b"salty", 4096);
            let (client, first) = ScramClient::start(m, "alice");
            let client = client.with_password("alice-secret");
            let (server, server_first) =
                ScramServer::start(m, parse_client_first(&first).unwrap(), cred.clone());
            let (fin, expected) = client.respond(&server_first).unwrap();
            assert_eq!(server.finish(&fin).unwrap(), expected);
            let (wrong, _) = ScramClient::start(m, "alice");
            let (server, server_first) = ScramServer::start(
                m,
                parse_client_first(&format!("n,,{}", wrong.bare)).unwrap(),
                cred,
            );
            let (fin, _) = wrong.with_password("nope").respond(&server_first).unwrap();
            assert_eq!(server.finish(&fin).unwrap_err(), invalid_credentials(m));
        }
    }
}
