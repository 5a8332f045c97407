//! Secrets Manager as the [`SecretSource`]: `GetSecretValue` of the current
//! version (`AWSCURRENT`), so a rotation is read at the next refresh.

use aws_config::SdkConfig;

use super::SecretSource;
use crate::future::BoxFuture;

pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn from_config(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

impl SecretSource for SecretsManager {
    fn fetch<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let out = self
                .client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))
                })?;
            out.secret_string.ok_or_else(|| {
                anyhow::anyhow!("the secret has no string value (binary secrets are not read)")
            })
        })
    }
}
