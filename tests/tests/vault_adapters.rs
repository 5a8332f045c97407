//! The vault's key port, one contract for both adapters: the local master
//! key file and KMS (on moto). A data key unwraps to what was generated,
//! only for its workspace; a key service that cannot be reached, or a key
//! wrapped by another, is an error (the vault answers 503), never a
//! wrong key.

use std::sync::Arc;

use saasit_tests::{moto::Moto, spawn_app};
use secrecy::ExposeSecret;
use shared::vault::{kms::KmsKeys, local::LocalKeys, DataKeys, SecretName, Vault};
use uuid::Uuid;

async fn contract(keys: &dyn DataKeys, other: &dyn DataKeys) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let fresh = keys.generate(a).await.expect("generate");
    assert_eq!(fresh.plaintext.expose_secret().len(), 32, "AES-256");
    assert!(
        !fresh
            .wrapped
            .bytes
            .windows(32)
            .any(|w| w == fresh.plaintext.expose_secret()),
        "the wrapped key does not hold the key in clear"
    );
    let again = keys.unwrap(a, &fresh.wrapped).await.expect("unwrap");
    assert_eq!(again.expose_secret(), fresh.plaintext.expose_secret());
    // Bound to its workspace.
    assert!(keys.unwrap(b, &fresh.wrapped).await.is_err());
    // Two keys differ.
    let second = keys.generate(a).await.expect("generate");
    assert_ne!(
        second.plaintext.expose_secret(),
        fresh.plaintext.expose_secret()
    );
    // A changed byte does not unwrap.
    let mut bent = fresh.wrapped.clone();
    let last = bent.bytes.len() - 1;
    bent.bytes[last] ^= 0x55;
    assert!(keys.unwrap(a, &bent).await.is_err());
    // Another key service's key does not unwrap here, and says why.
    let foreign = other.generate(a).await.expect("generate");
    let err = keys
        .unwrap(a, &foreign.wrapped)
        .await
        .expect_err("another's key");
    assert!(!err.to_string().is_empty());
}

fn local() -> LocalKeys {
    LocalKeys::from_hex(&LocalKeys::generate_hex()).expect("key")
}

#[tokio::test]
async fn the_local_master_key_keeps_the_contract() {
    contract(&local(), &local()).await;
    assert!(LocalKeys::from_hex("abc").is_err());
    assert!(LocalKeys::from_hex(&"zz".repeat(32)).is_err());
    let dir = std::env::temp_dir().join(format!("vault-key-{}", Uuid::now_v7().simple()));
    assert!(
        LocalKeys::from_file(&dir).is_err(),
        "a missing file is an error"
    );
}

async fn kms_key(moto: &Moto) -> String {
    moto.kms()
        .create_key()
        .description("saasit vault (test)")
        .send()
        .await
        .expect("create key")
        .key_metadata
        .expect("metadata")
        .arn
        .expect("arn")
}

#[tokio::test]
async fn kms_keeps_the_contract() {
    let moto = Moto::start().await;
    let kms = KmsKeys::from_config(&moto.sdk, &kms_key(&moto).await);
    let other_kms = KmsKeys::from_config(&moto.sdk, &kms_key(&moto).await);
    contract(&kms, &local()).await;
    // A key of another KMS key: Decrypt names the key that wrapped it, so it
    // is refused rather than unwrapped under the wrong one.
    let a = Uuid::now_v7();
    let theirs = other_kms.generate(a).await.expect("generate");
    let mut relabelled = theirs.wrapped.clone();
    relabelled.wrapped_by = kms.generate(a).await.expect("generate").wrapped.wrapped_by;
    assert!(kms.unwrap(a, &relabelled).await.is_err());
    assert!(other_kms.unwrap(a, &theirs.wrapped).await.is_ok());
}

#[tokio::test]
async fn the_vault_seals_under_kms_and_a_kms_outage_is_a_503() {
    let moto = Moto::start().await;
    let app = spawn_app().await;
    let key = kms_key(&moto).await;
    let vault = Vault::new(
        app.state.db.clone(),
        Arc::new(KmsKeys::from_config(&moto.sdk, &key)),
    );
    let (ws, _) = app.user("kms@example.com").await;
    let name = SecretName::parse("TOKEN").expect("name");
    let sealed = vault
        .seal(ws, &name, &"kms-sealed-value".to_owned().into())
        .await
        .expect("seal");
    sqlx::query(
        "INSERT INTO workspace_secrets (workspace_id, name, sealed) VALUES ($1, 'TOKEN', $2)",
    )
    .bind(ws)
    .bind(&sealed)
    .execute(&app.state.db)
    .await
    .expect("store");
    let wrapped_by: String =
        sqlx::query_scalar("SELECT wrapped_by FROM workspace_keys WHERE workspace_id = $1")
            .bind(ws)
            .fetch_one(&app.state.db)
            .await
            .expect("key row");
    assert_eq!(wrapped_by, format!("kms:{key}"));
    let got = vault.resolve(ws, &["TOKEN".into()]).await.expect("resolve");
    assert_eq!(got["TOKEN"], "kms-sealed-value");

    // KMS unreachable: a 503, and it recovers once KMS is back.
    let down = shared::runs::aws::emulator_sdk_config("http://127.0.0.1:9").await;
    let cut = Vault::new(
        app.state.db.clone(),
        Arc::new(KmsKeys::from_config(&down, &key)),
    );
    let err = cut.resolve(ws, &["TOKEN".into()]).await.expect_err("down");
    assert_eq!(err.code(), shared::ErrorCode::ServiceUnavailable);
    assert_eq!(
        vault.resolve(ws, &["TOKEN".into()]).await.expect("back")["TOKEN"],
        "kms-sealed-value"
    );
}
