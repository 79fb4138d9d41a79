//! Account-level state: caller identity, account Block Public Access, CloudTrail trails,
//! AWS Config recorders and rules.

use super::{fetched, Clients, Found};
use crate::snapshot::*;
use crate::spec::{Account, Spec};
use std::collections::{BTreeMap, BTreeSet};

pub(super) async fn collect_account(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
    a: &Account,
    since: chrono::DateTime<chrono::Utc>,
    found: &Found<'_>,
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
            config_by_region: BTreeMap::new(),
        };
    };
    let sts = aws_sdk_sts::Client::new(conf);
    let s3control = aws_sdk_s3control::Client::new(conf);
    let regions = found.regions_of(spec, alias);
    let (caller, pab, trails, configs, change_events) = futures::join!(
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
        trails_in(spec, clients, alias, &regions, found),
        configs_in(spec, clients, alias, &regions),
        super::evidence::change_events(clients, spec, alias, since, found),
    );
    let (config_by_region, config_compliance) = configs;
    let config = config_by_region
        .get(region)
        .cloned()
        .unwrap_or_else(|| clients.unavailable(alias));
    AccountState {
        alias: alias.to_string(),
        expected_account_id: account_id,
        caller,
        public_access_block: pab,
        trails,
        config,
        config_compliance,
        change_events,
        config_by_region,
    }
}

/// AWS Config in every Region that matters for the account: "AWS Config is a regional service" and
/// a recorder records the resources of its own Region only, so each audited bucket's Region (and the
/// home Region, which records the global resources) is read, with the managed rules' compliance there.
/// <https://docs.aws.amazon.com/config/latest/developerguide/select-resources.html>
async fn configs_in(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
    regions: &BTreeSet<String>,
) -> (
    BTreeMap<String, Fetched<ConfigState>>,
    Fetched<Vec<ConfigCompliance>>,
) {
    let per_region = futures::future::join_all(regions.iter().map(|region| async move {
        let Some(conf) = clients.config_in(spec, alias, region).await else {
            return (
                region.clone(),
                clients.unavailable(alias),
                clients.unavailable(alias),
            );
        };
        let cfg = aws_sdk_config::Client::new(&conf);
        let state = config_of(&cfg).await;
        let compliance = super::evidence::config_compliance(&cfg, &state).await;
        (region.clone(), state, compliance)
    }))
    .await;
    let mut states = BTreeMap::new();
    let mut all: Fetched<Vec<ConfigCompliance>> = Fetched::ok(vec![]);
    for (region, state, compliance) in per_region {
        states.insert(region.clone(), state);
        all = match (all, compliance) {
            (Fetched::Ok { value: mut a }, Fetched::Ok { value: b }) => {
                a.extend(b);
                Fetched::ok(a)
            }
            (Fetched::Ok { .. }, Fetched::Unknown { call, code, reason }) => {
                Fetched::unknown(call, code, format!("{reason} (in {region})"))
            }
            (Fetched::Ok { .. }, other) | (other, _) => other,
        };
    }
    (states, all)
}

/// Trails that can log the account's audited Regions: `DescribeTrails` in each of those Regions
/// (with shadow trails, i.e. multi-region trails created elsewhere). A single-region trail is listed
/// only in its own Region ("information for all trails in the current region and any associated
/// shadow trails in other regions is returned"), so reading the home Region alone misses it.
/// Status and selectors are read in the trail's home Region by ARN ("To return information about a
/// trail in another region, you must specify its trail ARN").
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html>
async fn trails_in(
    spec: &Spec,
    clients: &Clients,
    alias: &str,
    regions: &BTreeSet<String>,
    found: &Found<'_>,
) -> Fetched<Vec<Trail>> {
    let listed = futures::future::join_all(regions.iter().map(|region| async move {
        let Some(conf) = clients.config_in(spec, alias, region).await else {
            return (region.clone(), Err(clients.unavailable::<()>(alias)));
        };
        let ct = aws_sdk_cloudtrail::Client::new(&conf);
        match ct
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
        {
            Ok(o) => (region.clone(), Ok(o.trail_list().to_vec())),
            Err(e) => (
                region.clone(),
                Err(fetched(
                    "cloudtrail:DescribeTrails",
                    &[],
                    Err::<(), _>(e),
                    |_| (),
                )),
            ),
        }
    }))
    .await;
    let mut trails: BTreeMap<String, (String, aws_sdk_cloudtrail::types::Trail)> = BTreeMap::new();
    for (region, r) in listed {
        match r {
            Ok(list) => {
                for t in list {
                    let home = t.home_region().unwrap_or(&region).to_string();
                    let id = t
                        .trail_arn()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{home}/{}", t.name().unwrap_or_default()));
                    trails.entry(id).or_insert((home, t));
                }
            }
            Err(Fetched::Unknown { call, code, reason }) => {
                return Fetched::unknown(call, code, format!("{reason} (in {region})"))
            }
            Err(_) => return clients.unavailable(alias),
        }
    }
    let read = trails.into_values().map(|(home, t)| async move {
        let id = t.trail_arn().or(t.name()).unwrap_or_default().to_string();
        let ct = clients
            .config_in(spec, alias, &home)
            .await
            .map(|c| aws_sdk_cloudtrail::Client::new(&c));
        let delivery = async {
            match t.s3_bucket_name() {
                Some(b) => super::evidence::delivery_bucket(spec, clients, alias, b, found).await,
                None => super::evidence::Delivery::none("trail has no S3 bucket"),
            }
        };
        let status_and_selectors = async {
            let Some(ct) = &ct else {
                return (clients.unavailable(alias), clients.unavailable(alias));
            };
            futures::join!(
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
                        convert_selectors,
                    )
                },
            )
        };
        let ((status, selectors), delivery) = futures::join!(status_and_selectors, delivery);
        Trail {
            name: t.name().unwrap_or_default().to_string(),
            arn: t.trail_arn().map(str::to_string),
            home_region: Some(home.clone()),
            is_multi_region: t.is_multi_region_trail().unwrap_or(false),
            s3_bucket: t.s3_bucket_name().map(str::to_string),
            delivery_bucket_public: delivery.public,
            delivery_bucket_public_access_block: delivery.public_access_block,
            delivery_bucket_owner: delivery.owner,
            delivery_bucket_region: delivery.region,
            is_logging: status,
            event_selectors: selectors,
        }
    });
    Fetched::ok(futures::future::join_all(read).await)
}

fn convert_selectors(
    o: aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
) -> TrailSelectors {
    TrailSelectors {
        basic: o
            .event_selectors()
            .iter()
            .map(|s| BasicEventSelector {
                read_write_type: s
                    .read_write_type()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_else(|| "All".into()),
                include_management_events: s.include_management_events().unwrap_or(true),
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
    }
}

async fn config_of(cfg: &aws_sdk_config::Client) -> Fetched<ConfigState> {
    // DescribeConfigRules is paginated ("The string that you use in a subsequent request to get the
    // next page of results"): every page is read, or rules past the first page go unseen.
    // <https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeConfigRules.html>
    let (recorders, statuses, rules) = futures::join!(
        cfg.describe_configuration_recorders().send(),
        cfg.describe_configuration_recorder_status().send(),
        cfg.describe_config_rules()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
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
        Ok(r) => r,
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
