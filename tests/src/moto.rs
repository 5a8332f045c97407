//! A moto server per test, on its own loopback port: the AWS side of the
//! adapter contract tests. `scripts/test` installs moto into
//! `.local/venv-moto`; `MOTO_SERVER` may point at another `moto_server`.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use aws_config::SdkConfig;
use tokio::process::{Child, Command};

pub struct Moto {
    pub url: String,
    pub sdk: SdkConfig,
    _child: Child,
}

fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    // The run-time value first: see executor/tests/cli.rs.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let root = PathBuf::from(manifest)
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let p = root.join(".local/venv-moto/bin/moto_server");
    assert!(
        p.exists(),
        "moto is not installed at {}. Run `scripts/test` once (it installs moto into .local/venv-moto), \
         or set MOTO_SERVER to a moto_server binary.",
        p.display()
    );
    p
}

/// A bindable port below the kernel's ephemeral range (32768–60999 on Linux),
/// so no outgoing connection takes it before moto binds it, and from a
/// process-wide counter, so two tests never pick the same one (the port of a
/// released `bind(0)` can be handed to the next caller).
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id();
        let port = 26_000 + u16::try_from(n % 6_000).expect("below 6,000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Moto {
    /// Starts moto and waits until it answers (it is killed when dropped).
    pub async fn start() -> Self {
        let port = free_port();
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Step Functions' execute mode calls back into this same server.
            .env("MOTO_PORT", port.to_string())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if http
                .get(format!("{url}/moto-api/"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited ({status}) before answering on {url}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not start on {url} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sdk = shared::runs::aws::emulator_sdk_config(&url).await;
        Self {
            url,
            sdk,
            _child: child,
        }
    }

    /// Step Functions really runs state machines (Task, Choice, waitForTaskToken).
    pub async fn execute_state_machines(&self) {
        let r = reqwest::Client::new()
            .post(format!("{}/moto-api/config", self.url))
            .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
            .send()
            .await
            .expect("moto config");
        assert!(r.status().is_success(), "moto config: {}", r.status());
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk)
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk)
    }

    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk)
    }

    /// A queue named `name` (with a DLQ, as in template.yaml); its URL.
    pub async fn queue(&self, name: &str) -> String {
        let sqs = self.sqs();
        let dlq = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("dlq");
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(dlq.queue_url().expect("url"))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq attributes")
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("dlq arn");
        sqs.create_queue()
            .queue_name(name)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 100})
                    .to_string(),
            )
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "60",
            )
            .send()
            .await
            .expect("queue")
            .queue_url()
            .expect("url")
            .to_owned()
    }

    /// Receives up to 10 messages (waiting up to `wait`), with their attributes,
    /// shaped as the SQS event Lambda gets.
    pub async fn receive(
        &self,
        queue_url: &str,
        wait: Duration,
    ) -> aws_lambda_events::sqs::SqsEvent {
        let out = self
            .sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let arn = format!(
            "arn:aws:sqs:us-east-1:123456789012:{}",
            queue_url.rsplit('/').next().unwrap_or_default()
        );
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        for m in out.messages() {
            let mut r = aws_lambda_events::sqs::SqsMessage::default();
            r.message_id = m.message_id().map(str::to_owned);
            r.receipt_handle = m.receipt_handle().map(str::to_owned);
            r.body = m.body().map(str::to_owned);
            r.event_source_arn = Some(arn.clone());
            if let Some(attrs) = m.attributes() {
                for (k, v) in attrs {
                    r.attributes.insert(k.as_str().to_owned(), v.clone());
                }
            }
            event.records.push(r);
        }
        event
    }

    /// Deletes what a handler processed (what the Lambda service does for
    /// messages not named in `batchItemFailures`).
    pub async fn acknowledge(
        &self,
        queue_url: &str,
        event: &aws_lambda_events::sqs::SqsEvent,
        response: &aws_lambda_events::sqs::SqsBatchResponse,
    ) {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for r in &event.records {
            if failed.contains(&r.message_id.as_deref().unwrap_or_default()) {
                continue;
            }
            self.sqs()
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(r.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}
