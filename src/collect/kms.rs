//! KMS keys: metadata and key policy of every key the spec or a replication rule names.

use super::{fetched, no_account, Clients};
use crate::snapshot::*;
use crate::spec::{self, Spec};

pub(super) async fn collect_key(spec: &Spec, clients: &Clients, arn: String) -> KmsKeyState {
    let account = spec::arn_account(&arn).unwrap_or_default().to_string();
    let region = spec::arn_region(&arn).unwrap_or_default().to_string();
    let alias = spec.account_alias_for_id(&account).map(str::to_string);
    let conf = alias.as_deref().and_then(|a| clients.get(a, &region));
    let Some(conf) = conf else {
        let (metadata, key_policy) = match &alias {
            Some(a) => (clients.unavailable(a), clients.unavailable(a)),
            None => (
                no_account("kms:DescribeKey", &account),
                no_account("kms:GetKeyPolicy", &account),
            ),
        };
        return KmsKeyState {
            arn,
            read_as: alias,
            metadata,
            key_policy,
        };
    };
    let kms = aws_sdk_kms::Client::new(conf);
    let (meta, policy) = futures::join!(
        async {
            fetched(
                "kms:DescribeKey",
                &["NotFoundException"],
                kms.describe_key().key_id(&arn).send().await,
                |o| {
                    let m = o.key_metadata();
                    KmsKeyMetadata {
                        key_id: m.map(|m| m.key_id().to_string()).unwrap_or_default(),
                        arn: m.and_then(|m| m.arn()).unwrap_or_default().to_string(),
                        enabled: m.map(|m| m.enabled()).unwrap_or(false),
                        key_state: m
                            .and_then(|m| m.key_state())
                            .map(|s| s.as_str().to_string()),
                        key_manager: m
                            .and_then(|m| m.key_manager())
                            .map(|s| s.as_str().to_string()),
                    }
                },
            )
        },
        async {
            fetched(
                "kms:GetKeyPolicy",
                &["NotFoundException"],
                kms.get_key_policy()
                    .key_id(&arn)
                    .policy_name("default")
                    .send()
                    .await,
                |o| o.policy().unwrap_or_default().to_string(),
            )
        },
    );
    KmsKeyState {
        arn,
        read_as: alias,
        metadata: meta,
        key_policy: policy,
    }
}
