//! The aggregation tables' keys: per name, the tag sets seen, each with its
//! value. Shared by the locked tables (`aggregate`) and the counter cells
//! (`counters`), which both fold into and flush from them.

use hashbrown::HashMap;

/// Owned tags, as the aggregation key needs them.
pub(super) type OwnedTags = Box<[(Box<str>, Box<str>)]>;

/// A copy of `tags` to keep.
pub(super) fn owned(tags: &[(&str, &str)]) -> OwnedTags {
    tags.iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

/// Whether `owned` holds `tags`.
pub(super) fn same_tags(owned: &OwnedTags, tags: &[(&str, &str)]) -> bool {
    owned.len() == tags.len()
        && owned
            .iter()
            .zip(tags)
            .all(|((k, v), (k2, v2))| &**k == *k2 && &**v == *v2)
}

/// Per name, the tag sets seen and a value for each (usually one tag set).
pub(super) type ByName<T> = HashMap<String, Vec<(OwnedTags, T)>>;

/// Finds or inserts the value for `(name, tags)` without allocating when it
/// exists.
pub(super) fn slot<'m, T>(
    map: &'m mut ByName<T>,
    name: &str,
    tags: &[(&str, &str)],
    new: impl FnOnce() -> T,
) -> &'m mut T {
    let entries = map.entry_ref(name).or_default();
    match entries.iter().position(|(owned, _)| same_tags(owned, tags)) {
        Some(at) => &mut entries[at].1,
        None => {
            entries.push((owned(tags), new()));
            &mut entries.last_mut().expect("just pushed").1
        }
    }
}

/// Adds `n` to the sum of `(name, tags)` in `sums`.
pub(super) fn merge_sum(sums: &mut ByName<i128>, name: &str, tags: &OwnedTags, n: i128) {
    let entries = sums.entry_ref(name).or_default();
    match entries.iter_mut().find(|(owned, _)| owned == tags) {
        Some((_, sum)) => *sum = sum.saturating_add(n),
        None => entries.push((tags.clone(), n)),
    }
}
