//! The migration Lambda: a CloudFormation custom resource (see the library).

use std::time::Duration;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use migrate::{handle, Migrate, WORK_LIMIT};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = shared::runtime::migration_settings().await?;
    let pool = shared::db::pool(&settings.database).map_err(|e| e.to_string());
    let m = Migrate {
        pool,
        app_role: settings.app_role,
        work_limit: WORK_LIMIT,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let m = &m;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CloudFormationCustomResourceRequest>| async move {
            handle(m, event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
