//! The plan of a sync: each table's tier from its catalog row estimate, the reading parameters of the tier
//! (batch, partitions, workers, queue, checkpoint interval) with the configuration's overrides, and the partition
//! bounds picked from a sample of the table's own keys.

/// Row-estimate thresholds: below `small` a table is small, from `large` on it is large.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub small: u64,
    pub large: u64,
}

/// Values the configuration fixes instead of the tier (the seeds' `custom_*` keys); None means adaptive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub batch_size: Option<usize>,
    pub workers: Option<usize>,
    /// In rows, as the seeds count their queue.
    pub queue_rows: Option<usize>,
    pub partitions: Option<usize>,
    pub checkpoint_rows: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Small,
    Medium,
    Large,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Small => "small",
            Tier::Medium => "medium",
            Tier::Large => "large",
        }
    }
}

/// How one table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TablePlan {
    pub tier: Tier,
    pub batch_size: usize,
    pub partitions: usize,
    pub workers: usize,
    /// Batches waiting between the fetchers and Python.
    pub queue_depth: usize,
    pub checkpoint_rows: u64,
    /// The `partitions` asked for, when the table's size made the plan cut fewer (see `MIN_PARTITION_ROWS`).
    pub capped_from: Option<usize>,
}

/// The fewest rows a partition is cut for: a range per handful of rows costs a session, a statement and a state
/// entry each and gains nothing (`partitions=100000` on 1,000 rows read at 25 rows/s).
pub const MIN_PARTITION_ROWS: u64 = 1_000;

pub fn tier(estimate: Option<i64>, t: Thresholds) -> Tier {
    let rows = estimate.unwrap_or(0).max(0) as u64;
    if rows < t.small {
        Tier::Small
    } else if rows < t.large {
        Tier::Medium
    } else {
        Tier::Large
    }
}

/// The parameters of a table. Unlike the seeds, big tables get *more* parallelism, not less, and batches stay
/// large: per-batch overhead is what makes a billion rows slow. A table that cannot resume by key is read in one
/// stream, since its partitions could not be bounded.
pub fn plan_table(
    estimate: Option<i64>,
    partitionable: bool,
    cores: usize,
    t: Thresholds,
    o: Overrides,
) -> TablePlan {
    let tier = tier(estimate, t);
    let cores = cores.max(1);
    let (workers, partitions, checkpoint_rows) = match tier {
        Tier::Small => (1, 1, 100_000),
        Tier::Medium => {
            let w = cores.clamp(2, 4);
            (w, w, 100_000)
        }
        Tier::Large => {
            let w = cores.clamp(2, 8);
            let by_size = (estimate.unwrap_or(0).max(0) as u64 / 20_000_000) as usize;
            (w, by_size.clamp(w * 4, 128), 250_000)
        }
    };
    let batch_size = o.batch_size.unwrap_or(5000).max(1);
    let wanted = if partitionable {
        o.partitions.unwrap_or(partitions).max(1)
    } else {
        1
    };
    // An unknown estimate (never analysed) leaves the count as asked: the sample will still cut real key ranges.
    let room = estimate.filter(|e| *e >= 0).map_or(usize::MAX, |e| {
        ((e as u64 / MIN_PARTITION_ROWS).max(1)) as usize
    });
    let partitions = wanted.min(room);
    let capped_from = (partitions < wanted).then_some(wanted);
    let workers = o.workers.unwrap_or(workers).clamp(1, partitions.max(1));
    let queue_depth = match o.queue_rows {
        Some(rows) => rows.div_ceil(batch_size).max(1),
        None => 2 * workers,
    };
    TablePlan {
        tier,
        batch_size,
        partitions,
        workers,
        queue_depth,
        checkpoint_rows: o.checkpoint_rows.unwrap_or(checkpoint_rows).max(1),
        capped_from,
    }
}

/// A key range of a table: after `lo` (exclusive) up to `hi` (inclusive); None is open. Ranges are over primary
/// keys, whose columns are NOT NULL in both PostgreSQL and SQL Server, so no range of NULL keys is needed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partition {
    pub lo: Option<Vec<String>>,
    pub hi: Option<Vec<String>>,
}

/// Contiguous ranges covering every key, cut at quantiles of `sample` (keys as text, sorted by the database in
/// the key's own order). Repeated sample keys (a skewed key) collapse, so no range is empty by construction and
/// a hot key is never split across ranges; the ranges follow the data's real distribution, not min/max.
pub fn partitions(sample: &[Vec<String>], wanted: usize) -> Vec<Partition> {
    let mut cuts: Vec<&Vec<String>> = Vec::new();
    if wanted > 1 && !sample.is_empty() {
        for i in 1..wanted {
            let at = (i * sample.len()) / wanted;
            let key = &sample[at.min(sample.len() - 1)];
            if cuts.last().is_none_or(|last| *last != key) {
                cuts.push(key);
            }
        }
        // The last cut at the sample's maximum would leave only keys above every sampled one: keep it, the open
        // range after it is where new rows land.
    }
    let mut ranges = Vec::with_capacity(cuts.len() + 2);
    let mut lo: Option<Vec<String>> = None;
    for cut in cuts {
        ranges.push(Partition {
            lo: lo.clone(),
            hi: Some(cut.clone()),
        });
        lo = Some(cut.clone());
    }
    ranges.push(Partition { lo, hi: None });
    ranges
}

/// Sampled keys per wanted partition, and the least sample: SYSTEM sampling takes whole pages, whose keys are
/// often contiguous, so the sample needs many pages (about 2,000) to follow the distribution; that is still a
/// second or so of random reads on a billion-row table.
pub const SAMPLE_PER_PARTITION: u64 = 1000;
pub const SAMPLE_MIN: u64 = 200_000;

/// The sample percentage for `wanted` partitions of a table of `estimate` rows.
pub fn sample_percent_for(estimate: Option<i64>, wanted: usize) -> f64 {
    sample_percent(
        estimate.unwrap_or(0),
        (wanted as u64 * SAMPLE_PER_PARTITION).max(SAMPLE_MIN),
    )
}

/// The percentage of pages to sample so that about `rows_wanted` keys come back from a table of `estimate` rows.
pub fn sample_percent(estimate: i64, rows_wanted: u64) -> f64 {
    if estimate <= 0 {
        return 100.0;
    }
    (100.0 * rows_wanted as f64 / estimate as f64).clamp(0.0001, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        small: 1_000_000,
        large: 50_000_000,
    };

    fn keys(values: &[i64]) -> Vec<Vec<String>> {
        values.iter().map(|v| vec![v.to_string()]).collect()
    }

    #[test]
    fn tiers_follow_the_estimate() {
        assert_eq!(tier(None, T), Tier::Small);
        assert_eq!(tier(Some(-1), T), Tier::Small);
        assert_eq!(tier(Some(999_999), T), Tier::Small);
        assert_eq!(tier(Some(1_000_000), T), Tier::Medium);
        assert_eq!(tier(Some(50_000_000), T), Tier::Large);
    }

    #[test]
    fn bigger_tables_get_more_parallelism_and_overrides_win() {
        let small = plan_table(Some(10), true, 8, T, Overrides::default());
        assert_eq!((small.partitions, small.workers), (1, 1));
        let medium = plan_table(Some(5_000_000), true, 8, T, Overrides::default());
        assert_eq!(
            (medium.partitions, medium.workers, medium.queue_depth),
            (4, 4, 8)
        );
        let large = plan_table(Some(2_000_000_000), true, 8, T, Overrides::default());
        assert_eq!((large.partitions, large.workers), (100, 8));
        assert_eq!(large.batch_size, 5000);
        let keyless = plan_table(Some(2_000_000_000), false, 8, T, Overrides::default());
        assert_eq!((keyless.partitions, keyless.workers), (1, 1));
        let o = Overrides {
            batch_size: Some(1000),
            workers: Some(3),
            queue_rows: Some(10_000),
            partitions: Some(6),
            checkpoint_rows: Some(7),
        };
        let fixed = plan_table(Some(5_000_000), true, 2, T, o);
        assert_eq!(
            fixed,
            TablePlan {
                tier: Tier::Medium,
                batch_size: 1000,
                partitions: 6,
                workers: 3,
                queue_depth: 10,
                checkpoint_rows: 7,
                capped_from: None,
            }
        );
    }

    #[test]
    fn a_small_table_is_never_cut_into_tiny_partitions() {
        let many = Overrides {
            partitions: Some(100_000),
            ..Overrides::default()
        };
        let plan = plan_table(Some(1_000), true, 2, T, many);
        assert_eq!((plan.partitions, plan.capped_from), (1, Some(100_000)));
        let plan = plan_table(Some(50_000), true, 2, T, many);
        assert_eq!(plan.partitions, 50);
        let unknown = plan_table(None, true, 2, T, many);
        assert_eq!((unknown.partitions, unknown.capped_from), (100_000, None));
        let asked = Overrides {
            partitions: Some(4),
            ..Overrides::default()
        };
        assert_eq!(
            plan_table(Some(10_000_000), true, 2, T, asked).capped_from,
            None
        );
    }

    #[test]
    fn bounds_follow_the_distribution_not_min_and_max() {
        // 90% of the keys are below 100, the rest spread to a million: equal-width ranges would put almost every
        // row in the first one; quantile cuts put them evenly.
        let mut sample: Vec<i64> = (0..90).collect();
        sample.extend((1..=10).map(|i| i * 100_000));
        let p = partitions(&keys(&sample), 4);
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[0],
            Partition {
                lo: None,
                hi: Some(vec!["25".into()]),
            }
        );
        assert_eq!(p[1].hi, Some(vec!["50".into()]));
        assert_eq!(p[2].hi, Some(vec!["75".into()]));
        assert_eq!(
            p[3],
            Partition {
                lo: Some(vec!["75".into()]),
                hi: None,
            }
        );
    }

    #[test]
    fn a_hot_key_is_never_split_and_no_range_repeats() {
        let mut sample = vec![7i64; 95];
        sample.extend([1, 2, 3, 8, 9]);
        sample.sort();
        let p = partitions(&keys(&sample), 8);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].hi, Some(vec!["7".into()]));
        assert_eq!(p[1].lo, Some(vec!["7".into()]));
    }

    #[test]
    fn composite_keys_cut_on_whole_tuples() {
        let sample: Vec<Vec<String>> = ["a", "b", "c", "d"]
            .iter()
            .flat_map(|a| (0..3).map(move |n| vec![a.to_string(), n.to_string()]))
            .collect();
        let p = partitions(&sample, 3);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].hi, Some(vec!["b".into(), "1".into()]));
        assert_eq!(p[1].hi, Some(vec!["c".into(), "2".into()]));
        assert!(p[2].hi.is_none());
        assert_eq!(partitions(&[], 4), vec![Partition::default()]);
    }

    #[test]
    fn the_sample_is_sized_from_the_estimate() {
        assert_eq!(sample_percent(0, 1000), 100.0);
        assert_eq!(sample_percent(1_000, 2_000), 100.0);
        assert!((sample_percent(10_000_000, 10_000) - 0.1).abs() < 1e-9);
    }
}
