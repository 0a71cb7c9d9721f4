//! The stratified train/test split: each class contributes its share of the held-out samples.

use super::rng::Rng;

/// Sample indices of the training and held-out parts, each sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Indices of the training samples.
    pub train: Vec<usize>,
    /// Indices of the held-out samples.
    pub test: Vec<usize>,
}

/// Holds out `⌈n · fraction⌉` samples, shared between the classes in proportion to their
/// sizes (largest remainders first, ties to the lower class; no class gives up its last sample),
/// each class's picked at random.
pub fn stratified(labels: &[usize], classes: usize, fraction: f64, rng: &mut Rng) -> Split {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        members[label].push(i);
    }
    // As scikit-learn's `train_test_split`: the held-out count rounds up.
    let total = (labels.len() as f64 * fraction).ceil() as usize;
    let exact: Vec<f64> = members.iter().map(|m| m.len() as f64 * fraction).collect();
    let mut quota: Vec<usize> = exact.iter().map(|q| q.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..classes).collect();
    by_remainder.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let short = total.saturating_sub(quota.iter().sum());
    // A class keeps at least one training sample, so every class is learned.
    let room: Vec<usize> =
        by_remainder.into_iter().filter(|&c| quota[c] + 1 < members[c].len()).take(short).collect();
    for class in room {
        quota[class] += 1;
    }
    let mut split = Split { train: Vec::new(), test: Vec::new() };
    for (class, mut indices) in members.into_iter().enumerate() {
        rng.shuffle(&mut indices);
        split.test.extend_from_slice(&indices[..quota[class]]);
        split.train.extend_from_slice(&indices[quota[class]..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_gives_its_share_and_nothing_is_lost() {
        let labels: Vec<usize> = (0..1797).map(|i| (i * 7 + i / 13) % 10).collect();
        let split = stratified(&labels, 10, 0.2, &mut Rng::new(42, 0));
        assert_eq!((split.train.len(), split.test.len()), (1437, 360));
        for class in 0..10 {
            let n = labels.iter().filter(|&&l| l == class).count() as f64;
            let held = split.test.iter().filter(|&&i| labels[i] == class).count() as f64;
            assert!((held - 0.2 * n).abs() < 1.0, "class {class}: {held} of {n}");
        }
        let mut all: Vec<usize> = split.train.iter().chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert_eq!(split, stratified(&labels, 10, 0.2, &mut Rng::new(42, 0)));
        assert_ne!(split, stratified(&labels, 10, 0.2, &mut Rng::new(43, 0)));
    }

    #[test]
    fn a_class_of_one_stays_in_training() {
        let split = stratified(&[0, 1, 1, 1, 1], 2, 0.4, &mut Rng::new(3, 0));
        assert!(split.train.contains(&0));
        assert_eq!(split.test.len(), 2);
    }

    #[test]
    fn no_test_part_at_fraction_zero() {
        let split = stratified(&[0, 1, 1, 0], 2, 0.0, &mut Rng::new(1, 0));
        assert_eq!((split.train, split.test), (vec![0, 1, 2, 3], vec![]));
    }
}
