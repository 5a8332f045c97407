//! The Kubernetes API calls the EKS launcher makes, over reqwest: create,
//! read and delete a `batch/v1` Job, create its token Secret.
//!
//! Four REST calls on JSON objects the launcher renders itself do not need a
//! full client: kube-rs links a kubeconfig loader (YAML, JSONPath, regex) and
//! the typed Kubernetes models, which put the pipeline Lambdas over their
//! 5 MB budget. Errors are the API server's `Status` objects, whose messages
//! name an object, never its data.

use std::time::Duration;

use reqwest::{header, Method};
use serde_json::Value;

/// Where the API server is and how to trust and reach it.
#[derive(Debug, Clone)]
pub struct KubeEndpoint {
    /// `https://…` (EKS) or a local fake's `http://127.0.0.1:…`.
    pub server: String,
    /// The cluster CA as DER certificates; none trusts the usual web roots.
    pub ca: Option<Vec<Vec<u8>>>,
}

/// An API server's refusal (its `Status` object), or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("the Kubernetes API answered {code} {reason}: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("the Kubernetes API could not be reached: {0}")]
    Transport(String),
}

impl KubeError {
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Api { code, .. } => Some(*code),
            Self::Transport(_) => None,
        }
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::Api { code, reason, .. } if *code == 409 || reason == "AlreadyExists")
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// The token was refused: the caller drops its cached client.
    pub fn is_unauthorized(&self) -> bool {
        self.code() == Some(401)
    }
}

/// A client for one API server with one bearer token.
#[derive(Clone)]
pub struct KubeApi {
    http: reqwest::Client,
    server: String,
    token: header::HeaderValue,
}

impl std::fmt::Debug for KubeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApi")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl KubeApi {
    pub fn new(endpoint: &KubeEndpoint, token: &str) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &endpoint.ca {
            builder = builder.tls_built_in_root_certs(false);
            for der in ca {
                builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
            }
        }
        let mut token = header::HeaderValue::from_str(&format!("Bearer {token}"))?;
        token.set_sensitive(true);
        Ok(Self {
            http: builder.build()?,
            server: endpoint.server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// `POST` an object to a collection (`/apis/batch/v1/namespaces/ns/jobs`).
    pub async fn create(&self, collection: &str, object: &Value) -> Result<Value, KubeError> {
        self.call(Method::POST, collection, Some(object)).await
    }

    /// `GET` one object; `None` when there is none.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, KubeError> {
        match self.call(Method::GET, path, None).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE` one object with `DeleteOptions`.
    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value, KubeError> {
        self.call(Method::DELETE, path, Some(options)).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, KubeError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server))
            .header(header::AUTHORIZATION, self.token.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| KubeError::Transport(e.without_url().to_string()))?;
        let code = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| KubeError::Transport(e.without_url().to_string()))?;
        let object: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if code.is_success() {
            return Ok(object);
        }
        let text = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
        Err(KubeError::Api {
            code: code.as_u16(),
            reason: match text("reason") {
                r if r.is_empty() => code.canonical_reason().unwrap_or("").to_owned(),
                r => r,
            },
            message: text("message"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified_by_code_and_reason() {
        let api = |code, reason: &str| KubeError::Api {
            code,
            reason: reason.into(),
            message: String::new(),
        };
        assert!(api(409, "AlreadyExists").is_already_exists());
        assert!(api(409, "Conflict").is_already_exists());
        assert!(api(404, "NotFound").is_not_found());
        assert!(api(401, "Unauthorized").is_unauthorized());
        assert!(!api(403, "Forbidden").is_unauthorized());
        assert!(!KubeError::Transport("refused".into()).is_not_found());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let api = KubeApi::new(
            &KubeEndpoint {
                server: "http://127.0.0.1:1/".into(),
                ca: None,
            },
            "k8s-aws-v1.secret-token",
        )
        .expect("client");
        assert!(!format!("{api:?}").contains("secret-token"));
        assert_eq!(api.server, "http://127.0.0.1:1");
    }
}
