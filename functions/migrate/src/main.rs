//! The migration Lambda: a CloudFormation custom resource (see the library).

use std::time::Duration;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use migrate::{handle, Migrate, WORK_LIMIT};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Whatever fails while starting (settings, secrets), CloudFormation is
    // answered: the runtime starts anyway and the handler says FAILED and why.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let m = match shared::runtime::migration_settings().await {
        Ok(settings) => Migrate {
            pool: shared::db::pool(&settings.database)
                .map_err(|e| format!("invalid database settings: {e}")),
            app_role: settings.app_role,
            work_limit: WORK_LIMIT,
            http,
        },
        Err(e) => Migrate {
            pool: Err(format!("{e:#}")),
            app_role: None,
            work_limit: WORK_LIMIT,
            http,
        },
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
