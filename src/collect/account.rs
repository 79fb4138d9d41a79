//! Account-level state: caller identity, account Block Public Access, CloudTrail trails,
//! AWS Config recorders and rules.

use super::{fetched, Clients};
use crate::snapshot::*;
use crate::spec::{Account, Spec};

pub(super) async fn collect_account(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
    a: &Account,
    since: chrono::DateTime<chrono::Utc>,
) -> AccountState {
    let account_id = a.account_id.get_ref().clone();
    let region = a.region.get_ref();
    let Some(conf) = clients.get(alias, region) else {
        return AccountState {
            alias: alias.into(),
            expected_account_id: account_id,
            caller: clients.unavailable(alias),
            public_access_block: clients.unavailable(alias),
            trails: clients.unavailable(alias),
            config: clients.unavailable(alias),
            config_compliance: clients.unavailable(alias),
            change_events: clients.unavailable(alias),
        };
    };
    let sts = aws_sdk_sts::Client::new(conf);
    let s3control = aws_sdk_s3control::Client::new(conf);
    let ct = aws_sdk_cloudtrail::Client::new(conf);
    let cfg = aws_sdk_config::Client::new(conf);
    let s3 = crate::aws::s3_client(conf, &clients.opts);
    let (caller, pab, trails, config, change_events) = futures::join!(
        async {
            fetched(
                "sts:GetCallerIdentity",
                &[],
                sts.get_caller_identity().send().await,
                |o| CallerIdentity {
                    account: o.account().unwrap_or_default().to_string(),
                    arn: o.arn().unwrap_or_default().to_string(),
                },
            )
        },
        async {
            fetched(
                "s3:GetAccountPublicAccessBlock",
                &["NoSuchPublicAccessBlockConfiguration"],
                s3control
                    .get_public_access_block()
                    .account_id(&account_id)
                    .send()
                    .await,
                |o| {
                    let c = o.public_access_block_configuration();
                    PublicAccessBlock {
                        block_public_acls: c.and_then(|c| c.block_public_acls()).unwrap_or(false),
                        ignore_public_acls: c.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
                        block_public_policy: c
                            .and_then(|c| c.block_public_policy())
                            .unwrap_or(false),
                        restrict_public_buckets: c
                            .and_then(|c| c.restrict_public_buckets())
                            .unwrap_or(false),
                    }
                },
            )
        },
        trails_of(&ct, &s3),
        config_of(&cfg),
        super::evidence::change_events(clients, spec, alias, since),
    );
    // AWS Config is regional: a bucket is evaluated by the rules of its own region.
    let mut compliance = super::evidence::config_compliance(&cfg, &config).await;
    let mut other_regions: Vec<&str> = spec
        .buckets
        .values()
        .filter(|b| b.account.get_ref() == alias && b.region.get_ref() != region)
        .map(|b| b.region.get_ref().as_str())
        .collect();
    other_regions.sort();
    other_regions.dedup();
    for r in other_regions {
        let Some(conf) = clients.get(alias, r) else {
            continue;
        };
        let cfg = aws_sdk_config::Client::new(conf);
        let state = config_of(&cfg).await;
        let more = super::evidence::config_compliance(&cfg, &state).await;
        compliance = match (compliance, more) {
            (Fetched::Ok { value: mut a }, Fetched::Ok { value: b }) => {
                a.extend(b);
                Fetched::ok(a)
            }
            (Fetched::Ok { .. }, other) | (other, _) => other,
        };
    }
    let config_compliance = compliance;
    AccountState {
        alias: alias.to_string(),
        expected_account_id: account_id,
        caller,
        public_access_block: pab,
        trails,
        config,
        config_compliance,
        change_events,
    }
}

async fn trails_of(
    ct: &aws_sdk_cloudtrail::Client,
    s3: &aws_sdk_s3::Client,
) -> Fetched<Vec<Trail>> {
    let list = match ct
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
    {
        Ok(o) => o.trail_list().to_vec(),
        Err(e) => {
            return fetched(
                "cloudtrail:DescribeTrails",
                &[],
                Err::<(), _>(e),
                |_| vec![],
            )
        }
    };
    let mut out = Vec::new();
    for t in list {
        let id = t.trail_arn().or(t.name()).unwrap_or_default().to_string();
        let delivery = async {
            match t.s3_bucket_name() {
                Some(b) => super::evidence::delivery_bucket(s3, b).await,
                None => (
                    Fetched::absent("trail has no S3 bucket"),
                    Fetched::absent("trail has no S3 bucket"),
                ),
            }
        };
        let ((status, selectors), (delivery_public, delivery_pab)) = futures::join!(
            futures::future::join(
                async {
                    fetched(
                        "cloudtrail:GetTrailStatus",
                        &[],
                        ct.get_trail_status().name(&id).send().await,
                        |o| o.is_logging().unwrap_or(false),
                    )
                },
                async {
                    fetched(
                        "cloudtrail:GetEventSelectors",
                        &[],
                        ct.get_event_selectors().trail_name(&id).send().await,
                        |o| TrailSelectors {
                            basic: o
                                .event_selectors()
                                .iter()
                                .map(|s| BasicEventSelector {
                                    read_write_type: s
                                        .read_write_type()
                                        .map(|r| r.as_str().to_string())
                                        .unwrap_or_else(|| "All".into()),
                                    include_management_events: s
                                        .include_management_events()
                                        .unwrap_or(true),
                                    data_resources: s
                                        .data_resources()
                                        .iter()
                                        .map(|d| {
                                            (
                                                d.r#type().unwrap_or_default().to_string(),
                                                d.values().to_vec(),
                                            )
                                        })
                                        .collect(),
                                })
                                .collect(),
                            advanced: o
                                .advanced_event_selectors()
                                .iter()
                                .map(|s| AdvancedEventSelector {
                                    name: s.name().map(str::to_string),
                                    field_selectors: s
                                        .field_selectors()
                                        .iter()
                                        .map(|f| AdvancedFieldSelector {
                                            field: f.field().to_string(),
                                            equals: f.equals().to_vec(),
                                            starts_with: f.starts_with().to_vec(),
                                            ends_with: f.ends_with().to_vec(),
                                            not_equals: f.not_equals().to_vec(),
                                            not_starts_with: f.not_starts_with().to_vec(),
                                            not_ends_with: f.not_ends_with().to_vec(),
                                        })
                                        .collect(),
                                })
                                .collect(),
                        },
                    )
                },
            ),
            delivery
        );
        out.push(Trail {
            name: t.name().unwrap_or_default().to_string(),
            arn: t.trail_arn().map(str::to_string),
            home_region: t.home_region().map(str::to_string),
            is_multi_region: t.is_multi_region_trail().unwrap_or(false),
            s3_bucket: t.s3_bucket_name().map(str::to_string),
            delivery_bucket_public: delivery_public,
            delivery_bucket_public_access_block: delivery_pab,
            is_logging: status,
            event_selectors: selectors,
        });
    }
    Fetched::ok(out)
}

async fn config_of(cfg: &aws_sdk_config::Client) -> Fetched<ConfigState> {
    let (recorders, statuses, rules) = futures::join!(
        cfg.describe_configuration_recorders().send(),
        cfg.describe_configuration_recorder_status().send(),
        cfg.describe_config_rules().send(),
    );
    let recorders = match recorders {
        Ok(o) => o.configuration_recorders().to_vec(),
        Err(e) => {
            return fetched(
                "config:DescribeConfigurationRecorders",
                &[],
                Err::<(), _>(e),
                |_| ConfigState::default(),
            )
        }
    };
    let statuses = match statuses {
        Ok(o) => o.configuration_recorders_status().to_vec(),
        Err(e) => {
            return fetched(
                "config:DescribeConfigurationRecorderStatus",
                &[],
                Err::<(), _>(e),
                |_| ConfigState::default(),
            )
        }
    };
    let rules = match rules {
        Ok(o) => o.config_rules().to_vec(),
        Err(e) => {
            return fetched("config:DescribeConfigRules", &[], Err::<(), _>(e), |_| {
                ConfigState::default()
            })
        }
    };
    Fetched::ok(ConfigState {
        recorders: recorders
            .iter()
            .map(|r| {
                let name = r.name().unwrap_or_default().to_string();
                let st = statuses.iter().find(|s| s.name() == Some(name.as_str()));
                ConfigRecorder {
                    recording: st.map(|s| s.recording()).unwrap_or(false),
                    last_status: st
                        .and_then(|s| s.last_status())
                        .map(|s| s.as_str().to_string()),
                    all_supported: r
                        .recording_group()
                        .map(|g| g.all_supported())
                        .unwrap_or(false),
                    resource_types: r
                        .recording_group()
                        .map(|g| {
                            g.resource_types()
                                .iter()
                                .map(|t| t.as_str().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    name,
                }
            })
            .collect(),
        rules: rules
            .iter()
            .map(|r| ConfigRule {
                name: r.config_rule_name().unwrap_or_default().to_string(),
                source_identifier: r
                    .source()
                    .and_then(|s| s.source_identifier())
                    .map(str::to_string),
                state: r.config_rule_state().map(|s| s.as_str().to_string()),
            })
            .collect(),
    })
}
