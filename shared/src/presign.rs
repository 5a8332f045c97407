//! SigV4-presigned GET URLs (the signature in the query string): what an EKS
//! bearer token (a presigned STS `GetCallerIdentity`) and an RDS IAM
//! authentication token (a presigned `rds-db` `connect`) are made of.

use std::time::{Duration, SystemTime};

use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;

/// `url` presigned for `service` in `region`, valid `expires` from `now`,
/// with `headers` signed too (the caller must send them).
pub fn presign_get(
    identity: &Identity,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    expires: Duration,
    now: SystemTime,
) -> anyhow::Result<url::Url> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()?
        .into();
    let request = SignableRequest::new(
        "GET",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )?;
    let (instructions, _signature) = sign(request, &params)?.into_parts();
    let mut signed = url::Url::parse(url)?;
    {
        let mut query = signed.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
    }
    Ok(signed)
}
