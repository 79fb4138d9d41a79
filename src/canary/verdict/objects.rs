//! Verdicts on the canary objects: write, latency, status, encryption, access, uploaders,
//! prefix filter, delete markers, and the latency summary.

use super::{r3, stopped_before, with, Judge, RTC_WINDOW};
use crate::access::replica_sse::{self, Expected, Judged, ObjectSse, RuleSse, SseKind};
use crate::canary::observation::{
    AccessObs, AccessOutcome, DeleteMarkerObs, Interrupt, MarkerCreate, MarkerSeen, ReplicaObs,
    ReplicationObs, Sample, Seen, Tried, UnreplicatedObs, WriteObs, Written,
};
use crate::canary::plan::{PlannedObject, Target};
use crate::canary::s3ops::CallError;
use crate::catalogue::canary as meta;
use crate::findings::{Finding, Scenario, Status};
use crate::rules::RuleMeta;
use serde_json::{json, Value};

impl Judge<'_> {
    /// Why a check of this object cannot be made when the write did not happen: `error` when
    /// the run was stopped first, else `skip` (the write's own finding carries the failure).
    fn unwritten_status(w: &WriteObs) -> Status {
        if w.stopped().is_some() {
            Status::Error
        } else {
            Status::Skip
        }
    }

    fn unwritten_reason(w: &WriteObs) -> String {
        match w {
            WriteObs::Written(_) => "written".into(),
            WriteObs::Exists(_) => {
                "the canary key already existed, so nothing was written (see canary-write)".into()
            }
            WriteObs::Failed(e) => format!("the canary object was not written ({})", e.describe()),
            WriteObs::NotTried(why) => format!("the canary object was not written ({why})"),
            WriteObs::Stopped(i) => stopped_before(*i, "the canary object was written"),
        }
    }

    /// `canary-write`.
    pub fn write(&self, o: &PlannedObject, w: &WriteObs) -> Finding {
        let resource = self.url(&o.bucket, &o.key);
        let ev = self.base_evidence(o);
        let f = |status, msg: String, ev| {
            meta::WRITE.finding(o.scenario, status, resource.clone(), msg, ev)
        };
        match w {
            WriteObs::Written(w) => f(
                Status::Pass,
                format!(
                    "wrote the canary as {} (version {}, {})",
                    o.writer.label(),
                    w.version_id,
                    w.sse.as_deref().unwrap_or("no SSE reported")
                ),
                with(
                    ev,
                    json!({"version_id": w.version_id, "sse": w.sse, "kms_key_id": w.kms_key_id}),
                ),
            ),
            WriteObs::Exists(e) => f(
                Status::Error,
                format!("an object already exists at the canary key; it was not overwritten and will not be touched ({})", e.describe()),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::Failed(e) => f(
                if e.service { Status::Fail } else { Status::Error },
                format!("{} could not write the canary: {}", o.writer.label(), e.describe()),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::NotTried(why) => f(Status::Error, format!("canary not written: {why}"), ev),
            WriteObs::Stopped(i) => f(
                Status::Error,
                stopped_before(*i, "the canary was written"),
                with(ev, json!({"stopped_by": i.name()})),
            ),
        }
    }

    /// Every check of a rule canary that was not written: what it would have measured cannot
    /// be. One latency sample per destination, so the summary counts it.
    pub fn unwritten(&self, o: &PlannedObject, w: &WriteObs) -> (Vec<Finding>, Vec<Sample>) {
        let status = Self::unwritten_status(w);
        let why = Self::unwritten_reason(w);
        let ev = with(self.base_evidence(o), json!({"not_measured": why}));
        let mk = |m: &'static RuleMeta, scenario, resource: String| {
            m.finding(scenario, status, resource, why.clone(), ev.clone())
        };
        let mut out = Vec::new();
        let mut samples = Vec::new();
        for e in &o.expected {
            let res = self.pair_resource(o, &e.dest);
            out.push(mk(&meta::LATENCY, o.scenario, res.clone()));
            out.push(mk(&meta::ENCRYPTION, o.scenario, res.clone()));
            if o.delete_marker_test {
                out.push(mk(&meta::DELETE_MARKER, o.scenario, res));
            }
            samples.push(Sample {
                secs: None,
                pass: false,
                stopped: w.stopped(),
            });
        }
        if !o.expected.is_empty() {
            out.push(mk(&meta::STATUS, o.scenario, self.url(&o.bucket, &o.key)));
        }
        for c in &o.access {
            out.push(mk(
                &meta::ACCESS,
                c.scenario,
                format!("{} as {}", self.url(&o.bucket, &o.key), c.principal),
            ));
        }
        for u in &o.serves_uploaders {
            out.push(self.uploader(o, u, w, &[]));
        }
        (out, samples)
    }

    /// `canary-replication-latency` when no rule of the spec matches the canary.
    pub fn no_matching_rule(&self, o: &PlannedObject) -> Finding {
        meta::LATENCY.finding(
            o.scenario,
            Status::Skip,
            self.url(&o.bucket, &o.key),
            "no rule of the spec matches the canary (tag filter?); nothing to measure",
            self.base_evidence(o),
        )
    }

    /// `canary-replication-latency` for one destination.
    ///
    /// The latency is the time from the PutObject acknowledgement to the first poll that listed
    /// the replica (an upper bound; the poll before it is the lower bound). The replica's
    /// LastModified says nothing about latency: replicas "retain all metadata, such as the
    /// original object creation times and version IDs"
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html>), so on AWS it
    /// equals the source's. It is kept as evidence of exactly that, not as a bound.
    pub fn latency(
        &self,
        o: &PlannedObject,
        w: &Written,
        obs: &ReplicationObs,
        r: &ReplicaObs,
    ) -> (Finding, Sample) {
        let e = &r.expected;
        let rule = self.rule_label(e);
        let resource = self.pair_resource(o, &e.dest);
        let dest = self.bucket_url(&e.dest);
        let ev = with(
            self.base_evidence(o),
            json!({
                "rule": rule,
                "destination": dest,
                "polls": r.polls,
                "threshold_secs": RTC_WINDOW.as_secs(),
                "timeout_secs": r3(self.timeout.as_secs_f64()),
                "source_version_id": w.version_id,
                "source_replication_status": obs.waiting_status,
            }),
        );
        let mk = |status, msg: String, ev| {
            meta::LATENCY.finding(o.scenario, status, resource.clone(), msg, ev)
        };
        let sample = |secs, pass, stopped| Sample {
            secs,
            pass,
            stopped,
        };
        match &r.seen {
            Seen::Found {
                latency,
                lower,
                version_id,
                head,
            } => {
                let within = *latency <= RTC_WINDOW.as_secs_f64();
                let source_lm = w.source.as_ref().and_then(|s| s.last_modified);
                let replica_lm = head.as_ref().ok().and_then(|h| h.last_modified);
                let keeps = match (source_lm, replica_lm) {
                    (Some(s), Some(d)) => Some(s == d),
                    _ => None,
                };
                let mut f = mk(
                    if within { Status::Pass } else { Status::Fail },
                    format!(
                        "{rule}: replica in {dest} after {latency:.2} s ({}){}",
                        if r.polls <= 1 {
                            "seen at the first poll".to_string()
                        } else {
                            format!("not there at {lower:.2} s")
                        },
                        if within {
                            ""
                        } else {
                            "; past the 15-minute RTC window"
                        }
                    ),
                    with(
                        ev,
                        json!({
                            "latency_secs": r3(*latency),
                            "latency_lower_bound_secs": r3(*lower),
                            "replica_version_id": version_id,
                            "source_last_modified": source_lm,
                            "replica_last_modified": replica_lm,
                            "replica_keeps_source_last_modified": keeps,
                        }),
                    ),
                );
                f.duration_secs = Some(r3(*latency));
                (f, sample(Some(*latency), within, None))
            }
            Seen::Missing {
                waited,
                source_failed: true,
            } => (
                mk(
                    Status::Fail,
                    format!(
                        "{rule}: the source's replication status is FAILED (it covers every destination) and no replica is in {dest} after {waited:.2} s",
                    ),
                    ev,
                ),
                sample(None, false, None),
            ),
            Seen::Missing { .. } => (
                mk(
                    Status::Fail,
                    format!(
                        "{rule}: no replica in {dest} within {}; source replication status {}",
                        self.timeout_words(),
                        obs.waiting_status.as_deref().unwrap_or("absent")
                    ),
                    ev,
                ),
                sample(None, false, None),
            ),
            Seen::Stopped { interrupt, waited } => (
                mk(
                    Status::Error,
                    format!(
                        "{rule}: {} after {waited:.2} s, before a replica was seen in {dest}",
                        interrupt.describe()
                    ),
                    with(ev, json!({"stopped_by": interrupt.name()})),
                ),
                sample(None, false, Some(*interrupt)),
            ),
            Seen::Error(err) => (
                mk(
                    Status::Error,
                    format!("{rule}: cannot read {dest}: {}", err.describe()),
                    with(ev, json!({"error": err.evidence()})),
                ),
                sample(None, false, None),
            ),
        }
    }

    /// `canary-replication-status` of one object.
    ///
    /// With several destinations the source's status covers all of them: "The header of the
    /// source object only returns a value of COMPLETED when replication is successful to all
    /// destinations ... If one or more destinations fail replication, the header returns
    /// FAILED." A FAILED is therefore attributed only to the destinations whose own replica is
    /// missing. <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html#replication-status-multiple-destinations>
    pub fn status(&self, o: &PlannedObject, obs: &ReplicationObs) -> Finding {
        let resource = self.url(&o.bucket, &o.key);
        let replicas: Vec<Value> = obs
            .replicas
            .iter()
            .map(|r| {
                json!({
                    "destination": self.bucket_url(&r.expected.dest),
                    "replica_status": r.found().and_then(|h| h.as_ref().ok()).and_then(|h| h.replication_status.clone()),
                    "seen": r.found().is_some(),
                })
            })
            .collect();
        let source = obs.final_status.as_ref().ok().cloned().flatten();
        let ev = with(
            self.base_evidence(o),
            json!({"source_replication_status": source, "replicas": replicas}),
        );
        let mk = |status, msg: String| {
            meta::STATUS.finding(o.scenario, status, resource.clone(), msg, ev.clone())
        };
        if let Some(i) = obs.replicas.iter().find_map(|r| r.stopped()) {
            return mk(
                Status::Error,
                stopped_before(i, "every replica was seen, so the final status is unknown"),
            );
        }
        if let Some(i) = obs.settle_stopped {
            return mk(
                Status::Error,
                stopped_before(i, "the replication status left PENDING"),
            );
        }
        let source = match &obs.final_status {
            Ok(s) => s.clone(),
            Err(e) => {
                return mk(
                    Status::Error,
                    format!("cannot read the source status: {}", e.describe()),
                )
            }
        };
        let missing: Vec<String> = obs
            .replicas
            .iter()
            .filter(|r| r.found().is_none())
            .map(|r| self.bucket_url(&r.expected.dest))
            .collect();
        let present: Vec<String> = obs
            .replicas
            .iter()
            .filter(|r| r.found().is_some())
            .map(|r| self.bucket_url(&r.expected.dest))
            .collect();
        match source.as_deref() {
            Some("FAILED") => {
                let detail = if obs.replicas.len() <= 1 {
                    String::new()
                } else if missing.is_empty() {
                    format!(
                        " (the status covers every destination; every replica was seen: {})",
                        present.join(", ")
                    )
                } else {
                    format!(
                        " (the status covers every destination): no replica in {}{}",
                        missing.join(", "),
                        if present.is_empty() {
                            String::new()
                        } else {
                            format!("; replicated to {}", present.join(", "))
                        }
                    )
                };
                mk(
                    Status::Fail,
                    format!("replication status FAILED for {resource}{detail}"),
                )
            }
            Some("PENDING") => mk(
                Status::Fail,
                format!(
                    "replication status still PENDING for {resource} after {}{}",
                    self.timeout_words(),
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!("; no replica in {}", missing.join(", "))
                    }
                ),
            ),
            None => mk(
                Status::Fail,
                format!(
                    "no replication status on {resource}: no enabled replication rule matched it"
                ),
            ),
            Some("COMPLETED" | "COMPLETE") => {
                let mut bad = Vec::new();
                let mut unread = Vec::new();
                for r in &obs.replicas {
                    let d = self.bucket_url(&r.expected.dest);
                    match r.found() {
                        Some(Ok(h)) if h.replication_status.as_deref() == Some("REPLICA") => {}
                        Some(Ok(h)) => bad.push(format!(
                            "replica in {d} reports {}",
                            h.replication_status.as_deref().unwrap_or("no status")
                        )),
                        Some(Err(e)) => {
                            unread.push(format!("replica in {d} unreadable: {}", e.describe()))
                        }
                        None => bad.push(format!("no replica seen in {d}")),
                    }
                }
                if !bad.is_empty() {
                    mk(
                        Status::Fail,
                        format!("{resource} COMPLETED but {}", bad.join("; ")),
                    )
                } else if !unread.is_empty() {
                    mk(
                        Status::Error,
                        format!("{resource} COMPLETED but {}", unread.join("; ")),
                    )
                } else {
                    mk(
                        Status::Pass,
                        format!("{resource} COMPLETED; replica REPLICA"),
                    )
                }
            }
            Some(other) => mk(
                Status::Fail,
                format!("unexpected replication status {other} on {resource}"),
            ),
        }
    }

    /// `canary-replica-encryption` for one destination: the replica is encrypted as
    /// [`replica_sse::expected_replica`] says S3 encrypts it (its source's type; SSE-KMS under the
    /// rule's replica key, compared by key ARN with aliases resolved; an unencrypted source under
    /// the destination's default).
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html>
    pub fn encryption(&self, o: &PlannedObject, w: &Written, r: &ReplicaObs) -> Finding {
        let e = &r.expected;
        let scenario = match &self.spec.scenario_a {
            Some(a) if a.bucket.get_ref() == &e.dest => Scenario::ScenarioA,
            _ => o.scenario,
        };
        let resource = self.pair_resource(o, &e.dest);
        let dest = self.bucket_url(&e.dest);
        let mk = |status, msg: String, ev| {
            meta::ENCRYPTION.finding(scenario, status, resource.clone(), msg, ev)
        };
        let head = match &r.seen {
            Seen::Found { head: Ok(h), .. } => h,
            Seen::Found { head: Err(err), .. } => {
                return mk(
                    Status::Error,
                    format!(
                        "the replica in {dest} was listed but cannot be read: {}",
                        err.describe()
                    ),
                    with(self.base_evidence(o), json!({"error": err.evidence()})),
                )
            }
            Seen::Stopped { interrupt, .. } => {
                return mk(
                    Status::Error,
                    stopped_before(
                        *interrupt,
                        "a replica was seen, so its encryption was not measured",
                    ),
                    self.base_evidence(o),
                )
            }
            _ => {
                return mk(
                    Status::Skip,
                    format!("no replica was seen in {dest}, so its encryption was not measured"),
                    self.base_evidence(o),
                )
            }
        };
        let src = w.source.as_ref();
        let src_alg = w.sse.clone().or_else(|| src.and_then(|h| h.sse.clone()));
        let src_key = w
            .kms_key_id
            .clone()
            .or_else(|| src.and_then(|h| h.kms_key_id.clone()));
        let rule = self.rule(e);
        let dest_bucket = self.spec.buckets.get(&e.dest);
        let dest_default = dest_bucket.and_then(replica_sse::spec_default);
        let resolve = |r: &str| crate::access::kms::resolve_in(self.keys, r);
        let base = |basis: Option<&str>, want: Option<(SseKind, Option<&String>)>| {
            let want_key = want.and_then(|(_, k)| k.cloned());
            with(
                self.base_evidence(o),
                json!({
                    "destination": dest,
                    "basis": basis,
                    "source_sse": src_alg, "source_kms_key_id": src_key,
                    "expected_sse": want.map(|(k, _)| k.header().unwrap_or(k.label())),
                    "expected_kms_key_id": want_key,
                    "expected_key_arn": want_key.as_deref().map(|k| match resolve(k) {
                        Ok(a) => json!(a),
                        Err(why) => json!({"unresolved": why}),
                    }),
                    "replica_sse": head.sse, "replica_kms_key_id": head.kms_key_id,
                }),
            )
        };
        let (source, replica) = match (
            SseKind::from_header(src_alg.as_deref()),
            SseKind::from_header(head.sse.as_deref()),
        ) {
            (Ok(s), Ok(r)) => (s, ObjectSse::new(r, head.kms_key_id.as_deref())),
            (Err(why), _) | (_, Err(why)) => {
                return mk(
                    Status::Error,
                    format!("the encryption S3 reported cannot be judged: {why}"),
                    base(None, None),
                )
            }
        };
        let rule_sse = RuleSse {
            sse_kms_encrypted_objects: rule.is_some_and(|r| r.sse_kms_encrypted_objects),
            replica_kms_key: rule
                .and_then(|r| r.replica_kms_key_arn.as_ref().map(|k| k.get_ref().as_str())),
        };
        let expected = replica_sse::expected_replica(source, rule_sse, dest_default.as_ref());
        let ev = match &expected {
            Expected::Must { kind, key, basis } => base(Some(*basis), Some((*kind, key.as_ref()))),
            _ => base(None, None),
        };
        // One statement of what S3 does, shared with reconcile (access::replica_sse).
        match replica_sse::judge_replica(&expected, &replica, &resolve) {
            Judged::Pass(m) => mk(Status::Pass, m, ev),
            Judged::Fail(m) => mk(Status::Fail, m, ev),
            // Nothing to compare against (the destination's default is not in the spec).
            Judged::Undecidable(m) if matches!(expected, Expected::Undecidable(_)) => {
                mk(Status::Skip, m, ev)
            }
            // An alias that did not resolve, a key not reported: never a pass.
            Judged::Undecidable(m) => mk(Status::Error, m, ev),
        }
    }

    /// `canary-access` for one check: an allowed principal must get the canary's exact bytes
    /// (or see it listed), a denied one must get AccessDenied.
    pub fn access(&self, o: &PlannedObject, a: &AccessObs) -> Finding {
        let c = &a.check;
        let bucket = match &c.target {
            Target::Source => o.bucket.as_str(),
            Target::Replica(d) => d.as_str(),
        };
        let url = self.url(bucket, &o.key);
        let resource = format!("{url} as {}", c.principal);
        let arn = self
            .spec
            .principal(&c.principal)
            .map(|p| p.arn.get_ref().clone())
            .unwrap_or_default();
        let ev = json!({
            "run_id": self.run_id,
            "principal": c.principal, "principal_arn": arn,
            "action": c.action.as_str(),
            "expected": if c.allowed { "allowed" } else { "denied" },
            "object": url,
            "expectation": c.origin,
        });
        let mk = |status, msg: String, ev: Value| {
            meta::ACCESS.finding(c.scenario, status, resource.clone(), msg, ev)
        };
        let tried = match &a.outcome {
            AccessOutcome::NoReplica => {
                return mk(
                    Status::Skip,
                    format!(
                        "{}: no replica appeared in {}, nothing to read",
                        c.origin,
                        self.bucket_url(bucket)
                    ),
                    ev,
                )
            }
            AccessOutcome::Stopped(i) => {
                return mk(
                    Status::Error,
                    format!("{}: {}", c.origin, stopped_before(*i, "the access check")),
                    ev,
                )
            }
            AccessOutcome::NoClient(why) => {
                return mk(Status::Error, format!("{}: {why}", c.origin), ev)
            }
            AccessOutcome::Tried(t) => t,
        };
        let who = format!("{} ({})", c.principal, c.action.as_str());
        match (c.allowed, tried) {
            (true, Tried::Succeeded { ok: true, detail }) => {
                mk(Status::Pass, format!("{who}: allowed, {detail}"), ev)
            }
            (true, Tried::Succeeded { ok: false, detail }) => {
                mk(Status::Fail, format!("{who}: {detail}"), ev)
            }
            (false, Tried::Succeeded { detail, .. }) => mk(
                Status::Fail,
                format!("{who}: expected AccessDenied but the call succeeded ({detail})"),
                ev,
            ),
            (false, Tried::Failed(e)) if e.is_access_denied() => mk(
                Status::Pass,
                format!("{who}: AccessDenied, as expected"),
                with(ev, json!({"error": e.evidence()})),
            ),
            (allowed, Tried::Failed(e)) => mk(
                if e.service {
                    Status::Fail
                } else {
                    Status::Error
                },
                format!(
                    "{who}: {}, got {}",
                    if allowed {
                        "expected access"
                    } else {
                        "expected AccessDenied"
                    },
                    e.describe()
                ),
                with(ev, json!({"error": e.evidence()})),
            ),
        }
    }

    /// `canary-uploaders` for a permitted uploader: the write succeeds and the object
    /// replicates to every destination.
    pub fn uploader(
        &self,
        o: &PlannedObject,
        principal: &str,
        w: &WriteObs,
        replicas: &[ReplicaObs],
    ) -> Finding {
        let resource = format!("{} as {principal}", self.url(&o.bucket, &o.key));
        let ev = with(
            self.base_evidence(o),
            json!({"principal": principal, "expected": "may upload, and it replicates"}),
        );
        let mk = |status, msg: String, ev| {
            meta::UPLOADERS.finding(Scenario::ScenarioC, status, resource.clone(), msg, ev)
        };
        match w {
            WriteObs::Written(wr) => {
                if let Some(i) = replicas.iter().find_map(|r| r.stopped()) {
                    return mk(
                        Status::Error,
                        format!(
                            "uploader '{principal}' wrote the object; {}",
                            stopped_before(i, "it replicated")
                        ),
                        ev,
                    );
                }
                let missing: Vec<String> = replicas
                    .iter()
                    .filter(|r| r.found().is_none())
                    .map(|r| self.bucket_url(&r.expected.dest))
                    .collect();
                let ev = with(
                    ev,
                    json!({"version_id": wr.version_id, "not_replicated_to": missing}),
                );
                if missing.is_empty() {
                    mk(
                        Status::Pass,
                        format!("uploader '{principal}' wrote into the replicated prefix and the object replicated"),
                        ev,
                    )
                } else {
                    mk(
                        Status::Fail,
                        format!("uploader '{principal}' wrote into the replicated prefix but the object did not replicate to {}", missing.join(", ")),
                        ev,
                    )
                }
            }
            WriteObs::Failed(e) if e.is_access_denied() => mk(
                Status::Fail,
                format!(
                    "uploader '{principal}' was denied writing into the replicated prefix: {}",
                    e.describe()
                ),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::Failed(e) => mk(
                if e.service {
                    Status::Fail
                } else {
                    Status::Error
                },
                format!("uploader '{principal}' could not write: {}", e.describe()),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::Exists(e) => mk(
                Status::Error,
                format!(
                    "the canary key already existed; not overwritten ({})",
                    e.describe()
                ),
                ev,
            ),
            WriteObs::NotTried(why) => mk(Status::Error, why.clone(), ev),
            WriteObs::Stopped(i) => mk(Status::Error, stopped_before(*i, "the upload"), ev),
        }
    }

    /// `canary-uploaders` for a non-uploader: the write must be AccessDenied.
    pub fn non_uploader(&self, o: &PlannedObject, principal: &str, w: &WriteObs) -> Finding {
        let resource = format!("{} as {principal}", self.url(&o.bucket, &o.key));
        let ev = with(
            self.base_evidence(o),
            json!({"principal": principal, "expected": "AccessDenied"}),
        );
        let mk = |status, msg: String, ev| {
            meta::UPLOADERS.finding(Scenario::ScenarioC, status, resource.clone(), msg, ev)
        };
        match w {
            WriteObs::Failed(e) if e.is_access_denied() => mk(
                Status::Pass,
                format!("non-uploader '{principal}' got AccessDenied writing into the replicated prefix, as expected"),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::Written(wr) => mk(
                Status::Fail,
                format!("non-uploader '{principal}' could write into the replicated prefix (version {}); only the uploaders may", wr.version_id),
                with(ev, json!({"version_id": wr.version_id})),
            ),
            WriteObs::Failed(e) => mk(
                if e.service { Status::Fail } else { Status::Error },
                format!("non-uploader '{principal}': expected AccessDenied, got {}", e.describe()),
                with(ev, json!({"error": e.evidence()})),
            ),
            WriteObs::Exists(e) => mk(
                Status::Error,
                format!("the canary key already existed; not overwritten ({})", e.describe()),
                ev,
            ),
            WriteObs::NotTried(why) => mk(Status::Error, why.clone(), ev),
            WriteObs::Stopped(i) => mk(Status::Error, stopped_before(*i, "the upload"), ev),
        }
    }

    /// `canary-prefix-filter`: a canary under scenario B's unreplicated prefix must not
    /// appear in any destination within the observation window, and carry no replication
    /// status (a status means a rule matched it, even if the replica is late).
    pub fn prefix_filter(
        &self,
        o: &PlannedObject,
        w: &WriteObs,
        u: Option<&UnreplicatedObs>,
    ) -> Finding {
        let resource = self.url(&o.bucket, &o.key);
        let Some(u) = u.filter(|_| w.written().is_some()) else {
            return meta::PREFIX_FILTER.finding(
                Scenario::ScenarioB,
                Self::unwritten_status(w),
                resource,
                Self::unwritten_reason(w),
                self.base_evidence(o),
            );
        };
        let observe = self.observe.as_secs_f64();
        let ev = with(
            self.base_evidence(o),
            json!({
                "observe_secs": r3(observe),
                "polls": u.polls,
                "destinations": o.forbidden.iter().map(|d| self.bucket_url(d)).collect::<Vec<_>>(),
                "appeared_in": u.appeared.iter().map(|(d, t)| json!({"destination": self.bucket_url(d), "after_secs": r3(*t)})).collect::<Vec<_>>(),
                "source_replication_status": u.source_status,
                "errors": u.errors.iter().map(|(d, e)| json!({"destination": self.bucket_url(d), "error": e.evidence()})).collect::<Vec<_>>(),
            }),
        );
        let mk = |st, msg: String| {
            meta::PREFIX_FILTER.finding(Scenario::ScenarioB, st, resource.clone(), msg, ev.clone())
        };
        if !u.appeared.is_empty() {
            let list: Vec<String> = u
                .appeared
                .iter()
                .map(|(d, t)| format!("{} after {t:.2} s", self.bucket_url(d)))
                .collect();
            return mk(
                Status::Fail,
                format!(
                    "a canary outside the replicated prefixes was replicated: {}",
                    list.join(", ")
                ),
            );
        }
        if let Some(s @ ("PENDING" | "COMPLETED" | "COMPLETE" | "FAILED")) =
            u.source_status.as_deref()
        {
            return mk(
                Status::Fail,
                format!("not replicated within {observe:.1} s, but its replication status is {s}: a replication rule matches this prefix"),
            );
        }
        if let Some(i) = u.stopped {
            return mk(
                Status::Error,
                format!(
                    "{} during the {observe:.1} s observation window; not replicated so far",
                    i.describe()
                ),
            );
        }
        if u.polls == 0 {
            return mk(
                Status::Error,
                "the destinations were never read during the observation window".into(),
            );
        }
        // A destination none of whose reads succeeded was not watched at all.
        let unread: Vec<String> = o
            .forbidden
            .iter()
            .filter_map(|d| {
                let failed: Vec<&CallError> = u
                    .errors
                    .iter()
                    .filter(|(x, _)| x == d)
                    .map(|(_, e)| e)
                    .collect();
                (failed.len() >= u.polls).then(|| {
                    format!(
                        "{} ({})",
                        self.bucket_url(d),
                        failed.last().map(|e| e.describe()).unwrap_or_default()
                    )
                })
            })
            .collect();
        if !unread.is_empty() {
            return mk(
                Status::Error,
                format!("cannot read the destination: {}", unread.join(", ")),
            );
        }
        mk(
            Status::Pass,
            format!("not replicated within the {observe:.1} s observation window; no replication status on the source"),
        )
    }

    /// `canary-delete-marker`, one finding per destination of the object: the marker of a
    /// simple DELETE must reach the destination (within the timeout) when the rule replicates
    /// delete markers, and must not (within the observation window) when it does not.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-marker-replication.html>
    pub fn delete_markers(
        &self,
        o: &PlannedObject,
        replicas: &[ReplicaObs],
        d: Option<&DeleteMarkerObs>,
    ) -> Vec<Finding> {
        replicas
            .iter()
            .map(|r| self.delete_marker(o, r, d))
            .collect()
    }

    fn delete_marker(
        &self,
        o: &PlannedObject,
        r: &ReplicaObs,
        d: Option<&DeleteMarkerObs>,
    ) -> Finding {
        let e = &r.expected;
        let resource = self.pair_resource(o, &e.dest);
        let rule = self.rule_label(e);
        let dest = self.bucket_url(&e.dest);
        let want = self.rule(e).is_some_and(|r| r.delete_marker_replication);
        let limit = if want { self.timeout } else { self.observe };
        let ev = with(
            self.base_evidence(o),
            json!({
                "rule": rule,
                "destination": dest,
                "expected": if want { "replicated" } else { "not replicated" },
                "waited_secs_limit": r3(limit.as_secs_f64()),
            }),
        );
        let mk = |status, msg: String, ev| {
            meta::DELETE_MARKER.finding(o.scenario, status, resource.clone(), msg, ev)
        };
        if r.found().is_none() {
            return match r.stopped() {
                Some(i) => mk(
                    Status::Error,
                    stopped_before(i, "a replica was seen, so the delete-marker test did not run"),
                    ev,
                ),
                None => mk(
                    Status::Skip,
                    format!("no replica appeared in {dest}, so delete-marker replication was not measured"),
                    ev,
                ),
            };
        }
        let Some(d) = d else {
            return mk(
                Status::Error,
                "the delete-marker test did not run".into(),
                ev,
            );
        };
        let marker = match &d.create {
            MarkerCreate::Created(v) => v,
            MarkerCreate::Stopped(i) => {
                return mk(Status::Error, stopped_before(*i, "the delete-marker test"), ev)
            }
            MarkerCreate::NoMarker => {
                return mk(
                    Status::Error,
                    "DeleteObject created no delete marker (is versioning enabled on the source?); not measured".into(),
                    ev,
                )
            }
            MarkerCreate::Failed(err) => {
                return mk(
                    Status::Error,
                    format!(
                        "cannot delete the canary to create a delete marker: {}",
                        err.describe()
                    ),
                    with(ev, json!({"error": err.evidence()})),
                )
            }
            MarkerCreate::NoClient(why) => return mk(Status::Error, why.clone(), ev),
        };
        let ev = with(ev, json!({"source_delete_marker_version_id": marker}));
        let Some(m) = d.waits.iter().find(|m| m.expected.dest == e.dest) else {
            return mk(
                Status::Error,
                format!("{dest} was not watched for the delete marker"),
                ev,
            );
        };
        let ev = with(ev, json!({"polls": m.polls}));
        match (&m.seen, want) {
            (MarkerSeen::Stopped(i), _) => mk(
                Status::Error,
                format!("{rule}: {} while waiting for the delete marker", i.describe()),
                ev,
            ),
            (MarkerSeen::Error(err), _) => mk(
                Status::Error,
                format!("{rule}: cannot list {dest}: {}", err.describe()),
                with(ev, json!({"error": err.evidence()})),
            ),
            (MarkerSeen::Seen { version_id, after }, true) => mk(
                Status::Pass,
                format!("{rule}: delete marker replicated to {dest} after {after:.2} s, as expected"),
                with(ev, json!({"replica_delete_marker_version_id": version_id, "after_secs": r3(*after)})),
            ),
            (MarkerSeen::NotSeen, true) => mk(
                Status::Fail,
                format!(
                    "{rule}: no delete marker in {dest} within {}; the spec expects delete markers to replicate",
                    self.timeout_words()
                ),
                ev,
            ),
            (MarkerSeen::Seen { version_id, after }, false) => mk(
                Status::Fail,
                format!("{rule}: delete marker replicated to {dest} after {after:.2} s; the spec expects delete markers not to replicate"),
                with(ev, json!({"replica_delete_marker_version_id": version_id, "after_secs": r3(*after)})),
            ),
            (MarkerSeen::NotSeen, false) => mk(
                Status::Pass,
                format!(
                    "{rule}: no delete marker in {dest} within the {:.1} s observation window, as expected",
                    self.observe.as_secs_f64()
                ),
                ev,
            ),
        }
    }

    /// The `canary-replication-latency` summary over every canary and destination: min,
    /// median and max of the measured latencies. Any canary that did not replicate makes it
    /// fail; a run stopped before every replica was seen makes it an error.
    pub fn latency_summary(&self, samples: &[Sample]) -> Option<Finding> {
        if samples.is_empty() {
            return None;
        }
        let mut secs: Vec<f64> = samples.iter().filter_map(|s| s.secs).collect();
        secs.sort_by(|a, b| a.total_cmp(b));
        let stats = (!secs.is_empty()).then(|| {
            let n = secs.len();
            let median = if n % 2 == 1 {
                secs[n / 2]
            } else {
                (secs[n / 2 - 1] + secs[n / 2]) / 2.0
            };
            (secs[0], median, secs[n - 1])
        });
        let failed = samples
            .iter()
            .filter(|s| !s.pass && s.stopped.is_none())
            .count();
        let stopped: Option<Interrupt> = samples.iter().find_map(|s| s.stopped);
        let ev = json!({
            "run_id": self.run_id,
            "canaries": samples.len(),
            "replicated": secs.len(),
            "min_secs": stats.map(|s| r3(s.0)),
            "median_secs": stats.map(|s| r3(s.1)),
            "max_secs": stats.map(|s| r3(s.2)),
            "threshold_secs": RTC_WINDOW.as_secs(),
            "timeout_secs": r3(self.timeout.as_secs_f64()),
            "stopped_by": stopped.map(|i| i.name()),
        });
        let figures = stats
            .map(|(a, b, c)| format!("min {a:.2} s, median {b:.2} s, max {c:.2} s"))
            .unwrap_or_else(|| "no replica seen".into());
        let (status, msg) = if failed > 0 {
            (
                Status::Fail,
                format!(
                    "{failed} of {} canaries did not replicate within {}; {figures}",
                    samples.len(),
                    self.timeout_words()
                ),
            )
        } else if let Some(i) = stopped {
            (
                Status::Error,
                format!(
                    "{} before every canary replicated ({} of {} seen); {figures}",
                    i.describe(),
                    secs.len(),
                    samples.len()
                ),
            )
        } else {
            (
                Status::Pass,
                format!("{} canaries replicated: {figures}", samples.len()),
            )
        };
        let mut f = meta::LATENCY.finding(Scenario::Step4, status, "all canaries", msg, ev);
        f.duration_secs = stats.map(|s| r3(s.2));
        Some(f)
    }
}
