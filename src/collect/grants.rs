//! KMS grants of every key the collector reads (`kms:ListGrants`, every page).
//!
//! Why: "When authorizing access to a KMS key, grants are considered along with key policies and
//! IAM policies" (<https://docs.aws.amazon.com/kms/latest/developerguide/grants.html>), so a key
//! policy alone does not say who can decrypt with a key. A key whose grants could not be listed
//! is kept as `Unknown` with the call and its cause, never as "no grants".
//!
//! ListGrants (<https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html>):
//! `KeyId` is required (key id or key ARN, a key ARN for another account's key), the answer
//! pages with `Truncated` / `NextMarker` passed back as `Marker`, and `Limit` is 1..=100
//! (default 50) and "KMS does not return more than the specified number of items, but it might
//! return fewer". Required permission: `kms:ListGrants` (key policy).
//!
//! Only `KeyId` is sent as a filter; `GrantId` and `GranteePrincipal` are not, and the answer is
//! filtered here by the key each grant names, so an emulator that ignores a filter (moto 5.2.5
//! ignores `GranteePrincipal`, `Limit` and `Marker` and never truncates) cannot make the code
//! trust grants of another key. Paging follows `Truncated`/`NextMarker` alone, whatever `Limit`
//! did.

use super::limit::Service;
use super::{fetched, Clients};
use crate::snapshot::{Fetched, KmsGrant};
use std::collections::{BTreeMap, BTreeSet};

/// Pages read for one key before the listing is refused as never ending: at `Limit` 100 this is
/// 100,000 grants, far more than a key can have, so only an answer that keeps saying
/// `Truncated` (a service or proxy fault) reaches it.
const MAX_PAGES: usize = 1000;

/// One page of a `Marker`-paged listing.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub truncated: bool,
    pub next_marker: Option<String>,
}

/// Why a paged listing did not finish.
#[derive(Debug)]
pub(crate) enum PagingError<E> {
    /// A call failed.
    Call(E),
    /// The answers cannot be followed to the end (no marker, a repeated marker, too many pages).
    Broken(String),
}

/// Every item of a `Marker`/`NextMarker`/`Truncated` listing: `fetch(marker)` is one call. A
/// truncated page without `NextMarker`, a marker seen before, or more than `max_pages` pages is
/// an error naming it, never a short list taken as complete.
pub(crate) async fn all_pages<T, E, F, Fut>(
    max_pages: usize,
    mut fetch: F,
) -> Result<Vec<T>, PagingError<E>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, E>>,
{
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for page in 1..=max_pages {
        let p = fetch(marker.take()).await.map_err(PagingError::Call)?;
        out.extend(p.items);
        if !p.truncated {
            return Ok(out);
        }
        match p.next_marker {
            Some(m) if !m.is_empty() => {
                if !seen.insert(m.clone()) {
                    return Err(PagingError::Broken(format!(
                        "page {page} is truncated and repeats the NextMarker of an earlier page: the listing would never end"
                    )));
                }
                marker = Some(m);
            }
            _ => {
                return Err(PagingError::Broken(format!(
                    "page {page} is truncated (Truncated: true) but carries no NextMarker: the rest cannot be read"
                )))
            }
        }
    }
    Err(PagingError::Broken(format!(
        "still truncated after {max_pages} pages; refusing to read further"
    )))
}

/// Whether a grant's `KeyId` (a key ARN as AWS answers, or a key id) names the key `key_arn`. A
/// grant that names no key was listed for this key and is kept: dropping it could hide a grantee.
fn names_key(grant_key: Option<&str>, key_arn: &str) -> bool {
    let Some(k) = grant_key.filter(|k| !k.is_empty()) else {
        return true;
    };
    let id = crate::access::kms::key_id;
    k == key_arn || (!k.starts_with("arn:") && id(k).eq_ignore_ascii_case(id(key_arn)))
}

fn grant_of(g: &aws_sdk_kms::types::GrantListEntry) -> KmsGrant {
    let map = |m: Option<&std::collections::HashMap<String, String>>| {
        m.map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        })
    };
    let c = g.constraints();
    KmsGrant {
        grant_id: g.grant_id().unwrap_or_default().to_string(),
        name: g.name().map(str::to_string),
        key_id: g.key_id().map(str::to_string),
        grantee_principal: g.grantee_principal().map(str::to_string),
        grantee_service_principal: g.grantee_service_principal().map(str::to_string),
        retiring_principal: g.retiring_principal().map(str::to_string),
        issuing_account: g.issuing_account().map(str::to_string),
        operations: g
            .operations()
            .iter()
            .map(|o| o.as_str().to_string())
            .collect(),
        encryption_context_subset: map(c.and_then(|c| c.encryption_context_subset())),
        encryption_context_equals: map(c.and_then(|c| c.encryption_context_equals())),
        source_arn: c.and_then(|c| c.source_arn()).map(str::to_string),
    }
}

/// Every grant of the key `key_arn`, read in its own account (`alias`) through the account's
/// KMS gate, one call per page.
pub(super) async fn list_grants(
    clients: &Clients,
    alias: &str,
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
) -> Fetched<Vec<KmsGrant>> {
    const CALL: &str = "kms:ListGrants";
    let r = all_pages(MAX_PAGES, |marker| async move {
        let o = clients
            .run(
                alias,
                Service::Kms,
                kms.list_grants()
                    .key_id(key_arn)
                    .limit(100)
                    .set_marker(marker)
                    .send(),
            )
            .await?;
        Ok(Page {
            items: o.grants().iter().map(grant_of).collect(),
            truncated: o.truncated(),
            next_marker: o.next_marker().map(str::to_string),
        })
    })
    .await;
    match r {
        Ok(all) => Fetched::ok(
            all.into_iter()
                .filter(|g| names_key(g.key_id.as_deref(), key_arn))
                .collect(),
        ),
        Err(PagingError::Call(e)) => fetched(CALL, &[], Err::<(), _>(e), |_| Vec::new()),
        Err(PagingError::Broken(why)) => {
            Fetched::unknown(CALL, Some("IncompleteListing".into()), why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(
        script: Vec<(Vec<u32>, bool, Option<&'static str>)>,
    ) -> impl FnMut(Option<String>) -> std::future::Ready<Result<Page<u32>, std::convert::Infallible>>
    {
        let mut i = 0;
        let mut expected: Option<String> = None;
        move |marker| {
            assert_eq!(
                marker, expected,
                "page {i} must be asked with the previous NextMarker"
            );
            let (items, truncated, next) = script[i].clone();
            i += 1;
            expected = next.map(str::to_string);
            std::future::ready(Ok(Page {
                items,
                truncated,
                next_marker: next.map(str::to_string),
            }))
        }
    }

    #[tokio::test]
    async fn every_page_is_read_through_next_marker() {
        let got = all_pages(
            10,
            pages(vec![
                (vec![1, 2], true, Some("m1")),
                (vec![3], true, Some("m2")),
                (vec![4], false, None),
            ]),
        )
        .await
        .unwrap();
        assert_eq!(got, vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_listing_that_cannot_end_is_an_error_not_a_short_list() {
        let no_marker = all_pages(10, pages(vec![(vec![1], true, None)])).await;
        assert!(
            matches!(&no_marker, Err(PagingError::Broken(m)) if m.contains("no NextMarker")),
            "{no_marker:?}"
        );
        let repeated = all_pages(
            10,
            pages(vec![(vec![1], true, Some("m")), (vec![2], true, Some("m"))]),
        )
        .await;
        assert!(
            matches!(&repeated, Err(PagingError::Broken(m)) if m.contains("repeats")),
            "{repeated:?}"
        );
        let mut n = 0;
        let endless = all_pages(3, |_| {
            n += 1;
            std::future::ready(Ok::<_, std::convert::Infallible>(Page {
                items: vec![n],
                truncated: true,
                next_marker: Some(format!("m{n}")),
            }))
        })
        .await;
        assert!(
            matches!(&endless, Err(PagingError::Broken(m)) if m.contains("after 3 pages")),
            "{endless:?}"
        );
        let failed = all_pages(3, |_| {
            std::future::ready(Err::<Page<u32>, _>("AccessDenied".to_string()))
        })
        .await;
        assert!(matches!(failed, Err(PagingError::Call(e)) if e == "AccessDenied"));
    }

    #[test]
    fn grants_of_another_key_are_dropped_whatever_the_emulator_filtered() {
        let key = "arn:aws:kms:ap-southeast-2:271089868719:key/9b8a";
        assert!(names_key(Some(key), key));
        assert!(names_key(Some("9B8A"), key));
        assert!(
            names_key(None, key),
            "a grant listed for this key naming none is kept"
        );
        assert!(!names_key(
            Some("arn:aws:kms:ap-southeast-2:271089868719:key/dead"),
            key
        ));
        assert!(!names_key(Some("dead"), key));
        assert!(!names_key(
            Some("arn:aws:kms:ap-southeast-1:271089868719:key/9b8a"),
            key
        ));
    }
}
