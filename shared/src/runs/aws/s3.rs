//! The blob store on S3: presigned PUT and GET URLs for artifacts, and
//! the log bundle streamed in (`PutObject` when it fits one part, else a
//! multipart upload holding one part in memory). The bucket is encrypted, private and
//! has a lifecycle (template.yaml).

use std::time::Duration;

use aws_sdk_s3::{
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
    Client,
};

use crate::runs::{BlobStore, BoxFuture, BoxStream, PART_BYTES};

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

    fn put_stream<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        mut chunks: BoxStream<'a, anyhow::Result<Vec<u8>>>,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        use futures_util::StreamExt;
        Box::pin(async move {
            // Up to one part: a plain PutObject. Beyond: a multipart upload,
            // one part in memory at a time, aborted if anything fails.
            let mut buf: Vec<u8> = Vec::new();
            let mut upload: Option<Multipart> = None;
            let mut size = 0u64;
            let result = async {
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk?;
                    size += chunk.len() as u64;
                    buf.extend_from_slice(&chunk);
                    if buf.len() >= PART_BYTES {
                        if upload.is_none() {
                            upload = Some(self.begin(key, content_type).await?);
                        }
                        if let Some(u) = upload.as_mut() {
                            self.part(key, u, std::mem::take(&mut buf)).await?;
                        }
                    }
                }
                match upload.as_mut() {
                    None => {
                        self.client
                            .put_object()
                            .bucket(&self.bucket)
                            .key(key)
                            .content_type(content_type)
                            .body(ByteStream::from(std::mem::take(&mut buf)))
                            .send()
                            .await?;
                    }
                    Some(u) => {
                        if !buf.is_empty() {
                            self.part(key, u, std::mem::take(&mut buf)).await?;
                        }
                        self.complete(key, u).await?;
                    }
                }
                anyhow::Ok(())
            }
            .await;
            if let Err(e) = result {
                if let Some(u) = upload {
                    let _ = self
                        .client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(u.id)
                        .send()
                        .await;
                }
                return Err(e);
            }
            Ok(size)
        })
    }

    fn size_of<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>> {
        Box::pin(async move {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // S3 answers a delete of a missing key with success.
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await?;
            Ok(())
        })
    }
}

/// A multipart upload in progress.
struct Multipart {
    id: String,
    parts: Vec<CompletedPart>,
}

impl S3Blobs {
    async fn begin(&self, key: &str, content_type: &str) -> anyhow::Result<Multipart> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await?;
        let id = created
            .upload_id()
            .ok_or_else(|| anyhow::anyhow!("S3 gave the multipart upload no id"))?
            .to_owned();
        Ok(Multipart {
            id,
            parts: Vec::new(),
        })
    }

    async fn part(&self, key: &str, u: &mut Multipart, body: Vec<u8>) -> anyhow::Result<()> {
        let number = i32::try_from(u.parts.len() + 1)?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&u.id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await?;
        u.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    async fn complete(&self, key: &str, u: &mut Multipart) -> anyhow::Result<()> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&u.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut u.parts)))
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }
}
