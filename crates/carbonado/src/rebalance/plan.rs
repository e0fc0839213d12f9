//! What to do with one metric, from where its files are and which nodes own it: pure, so the
//! rules are tested without a cluster.
//!
//! Every owner receives a copy from every non-owner holding the metric (the first creates the
//! file, later ones merge with whisper-fill semantics), so no non-owner copy is deleted before
//! all owners hold its points. An owner lacking the metric also gets it from the other owners
//! holding it (a replica to create when rf is raised, or beside a move with rf > 1).

/// One push: node `from` sends its file to node `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// Source node index.
    pub from: usize,
    /// Destination node index.
    pub to: usize,
}

/// The work for one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricPlan {
    /// The metric name.
    pub metric: String,
    /// Pushes, in order.
    pub copies: Vec<Copy>,
    /// Non-owners whose file is deleted once every owner confirmed their copy.
    pub deletes: Vec<usize>,
    /// The nodes listing the metric when the plan was made.
    pub holders: Vec<usize>,
}

impl MetricPlan {
    /// A move (its files leave some node) rather than only new replicas.
    pub fn is_move(&self) -> bool {
        !self.deletes.is_empty()
    }
}

/// What the listing and the ring say about one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Already exactly on its owners.
    InPlace,
    /// The ring places it nowhere (relay rules without a match): left where it is.
    Unplaced,
    /// Work to do.
    Work(MetricPlan),
}

/// Decides for `metric`, held by nodes `holders`, owned by nodes `owners` (primary first).
pub fn decide(metric: &str, holders: &[usize], owners: &[usize]) -> Decision {
    if owners.is_empty() {
        return Decision::Unplaced;
    }
    let strays: Vec<usize> = holders
        .iter()
        .copied()
        .filter(|h| !owners.contains(h))
        .collect();
    let mut copies = Vec::new();
    for &o in owners {
        let mut sources = strays.clone();
        if !holders.contains(&o) {
            // a new replica also takes what the other owners hold, so it is as complete as
            // the union of the copies rather than a copy of the leaving one alone
            sources.extend(
                holders
                    .iter()
                    .copied()
                    .filter(|h| *h != o && owners.contains(h)),
            );
        }
        copies.extend(sources.into_iter().map(|from| Copy { from, to: o }));
    }
    if copies.is_empty() && strays.is_empty() {
        return Decision::InPlace;
    }
    Decision::Work(MetricPlan {
        metric: metric.to_string(),
        copies,
        deletes: strays,
        holders: holders.to_vec(),
    })
}

/// Counts of a plan, printed by the dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Distinct metrics listed over all nodes.
    pub metrics: usize,
    /// Metrics already on exactly their owners.
    pub in_place: usize,
    /// Metrics the ring places nowhere.
    pub unplaced: usize,
    /// Metrics left alone by `--exclude` (not counted in `metrics`).
    pub excluded: usize,
    /// Metrics leaving at least one node.
    pub moves: usize,
    /// Metrics only gaining replicas.
    pub replicas: usize,
    /// Pushes planned.
    pub copies: usize,
    /// Deletes planned.
    pub deletes: usize,
}

impl PlanSummary {
    /// Adds one decision.
    pub fn add(&mut self, d: &Decision) {
        self.metrics += 1;
        match d {
            Decision::InPlace => self.in_place += 1,
            Decision::Unplaced => self.unplaced += 1,
            Decision::Work(p) => {
                if p.is_move() {
                    self.moves += 1;
                } else {
                    self.replicas += 1;
                }
                self.copies += p.copies.len();
                self.deletes += p.deletes.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(d: Decision) -> MetricPlan {
        match d {
            Decision::Work(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn in_place_needs_nothing() {
        assert_eq!(decide("m", &[1], &[1]), Decision::InPlace);
        assert_eq!(decide("m", &[0, 2], &[2, 0]), Decision::InPlace);
        assert_eq!(decide("m", &[0], &[]), Decision::Unplaced);
    }

    #[test]
    fn a_move_copies_to_every_owner_then_deletes() {
        let p = work(decide("m", &[0], &[2]));
        assert_eq!(p.copies, vec![Copy { from: 0, to: 2 }]);
        assert_eq!(p.deletes, vec![0]);
        // rf 2: the stray goes to both owners, including one that already holds it (merge)
        let p = work(decide("m", &[0, 1], &[1, 2]));
        assert_eq!(
            p.copies,
            vec![
                Copy { from: 0, to: 1 },
                Copy { from: 0, to: 2 },
                Copy { from: 1, to: 2 }
            ]
        );
        assert_eq!(p.deletes, vec![0]);
    }

    #[test]
    fn a_missing_replica_comes_from_the_other_owners() {
        let p = work(decide("m", &[1], &[1, 2]));
        assert_eq!(p.copies, vec![Copy { from: 1, to: 2 }]);
        assert!(p.deletes.is_empty());
        assert!(!p.is_move());
        let mut s = PlanSummary::default();
        s.add(&Decision::Work(p));
        s.add(&Decision::InPlace);
        assert_eq!((s.metrics, s.replicas, s.copies, s.in_place), (2, 1, 1, 1));
    }
}
