//! One broker of an AMQP URL: host, port and credentials (the password in
//! a [`Secret`], shown as `***`).

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::RpcError;
use crate::secret::Secret;

/// One broker of a (possibly clustered) URL.
#[derive(Clone)]
pub struct Endpoint {
    host: String,
    port: u16,
    username: String,
    password: Secret,
}

impl Endpoint {
    pub(super) fn from_url(
        parsed: &Url,
        inherit: Option<&Url>,
        default_port: u16,
    ) -> Result<Self, RpcError> {
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| RpcError::config("the AMQP URL has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.len() > crate::topology::MAX_NAME_LEN {
            return Err(RpcError::config(
                "a host in the AMQP URL is longer than 255 bytes",
            ));
        }
        let credentials = inherit.unwrap_or(parsed);
        let username = match credentials.username() {
            "" => "guest".to_owned(),
            user => decode(user, "user name")?,
        };
        let password = match credentials.password() {
            None => Secret::new("guest"),
            Some(password) => Secret::new(decode(password, "password")?),
        };
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(default_port),
            username,
            password,
        })
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &Secret {
        &self.password
    }
}

/// `user:***@host:port`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:***@{}:{}", self.username, self.host, self.port)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

pub(super) fn decode(part: &str, what: &str) -> Result<String, RpcError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| RpcError::config(format!("the {what} in the AMQP URL is not UTF-8")))
}
