//! The blob store on S3: presigned PUT and GET URLs for artifacts, and
//! `PutObject` for the log bundle. The bucket is encrypted, private and
//! has a lifecycle (template.yaml).

use std::time::Duration;

use aws_sdk_s3::{presigning::PresigningConfig, primitives::ByteStream, Client};

use crate::pipeline::{BlobStore, BoxFuture};

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// `path_style` is for S3 emulators (moto); AWS uses virtual-hosted style.
    pub fn from_config(
        sdk: &aws_config::SdkConfig,
        bucket: impl Into<String>,
        path_style: bool,
    ) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        Self::new(Client::from_conf(config), bucket)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn presigning(ttl: Duration) -> anyhow::Result<PresigningConfig> {
        // S3 accepts at most 7 days.
        Ok(PresigningConfig::expires_in(ttl.clamp(
            Duration::from_secs(1),
            Duration::from_secs(7 * 24 * 3600),
        ))?)
    }
}

impl BlobStore for S3Blobs {
    fn upload_url<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let req = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .presigned(Self::presigning(ttl)?)
                .await?;
            Ok(req.uri().to_owned())
        })
    }

    fn download_url<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let req = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(Self::presigning(ttl)?)
                .await?;
            Ok(req.uri().to_owned())
        })
    }

    fn put(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        let (key, content_type) = (key.to_owned(), content_type.to_owned());
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(body))
                .send()
                .await?;
            Ok(())
        })
    }
}
