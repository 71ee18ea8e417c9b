//! Container ID detection for DogStatsD origin detection.
//!
//! Why: the Datadog Agent tags a metric with its container's tags (image,
//! pod, deployment ...) when it knows which container sent it. Over a Unix
//! socket it can ask the kernel; over UDP it cannot, so the client names its
//! container in the `|c:` field of every line (DogStatsD protocol v1.2). When
//! the container ID is not visible from inside the container, the client
//! sends the inode of its cgroup instead, as `in-<inode>` (protocol v1.4), and
//! the Agent maps that inode to the container.
//!
//! [`detect_container_id`] follows datadog-go on Linux (`statsd/container_linux.go`),
//! in its order:
//!
//! 1. `/proc/self/cgroup`: the first line `<id>:<controllers>:<path>` whose
//!    path *ends* with a container ID, optionally followed by one character
//!    and `scope` (`docker-<id>.scope`). A container ID is 64 lowercase hex
//!    digits (Docker, containerd, CRI-O, podman), a UUID with `-` or `_`
//!    between its groups, or 32 hex digits, `-` and decimal digits (an ECS
//!    task). cgroup v1 and v2 lines read the same (`0::/path` for v2).
//! 2. `/proc/self/mountinfo`, for a private cgroup namespace where the cgroup
//!    path is only `/`: on each line, the rightmost `/<dir>/<id>/` that is
//!    followed, before the next whitespace, by `hostname`, as in
//!    `/var/lib/docker/containers/<id>/hostname`; here the ID is 64 hex digits
//!    or the ECS form. When `<dir>` is `sandboxes` (a Kubernetes pod sandbox,
//!    the pause container, not ours) the line is skipped.
//! 3. Unless the process is in the host's cgroup namespace (the inode of
//!    `/proc/self/ns/cgroup` is `0xEFFFFFFB`): the inode of the process's
//!    cgroup directory, `in-<inode>`: `/sys/fs/cgroup/memory/<path>` for the
//!    cgroup v1 `memory` controller line, tried first, then
//!    `/sys/fs/cgroup/<path>` for the cgroup v2 line `0::<path>`. In the host
//!    namespace step 1 would have found an ID if there were one, so nothing
//!    is sent.
//!
//! All paths are read under a `root` (`/` in production), so tests run on
//! fixture trees. Unreadable files count as empty: detection never fails, it
//! finds nothing.
//!
//! What this module does not decide: whether origin detection is on
//! (`DD_ORIGIN_DETECTION_ENABLED`, see
//! [`DatadogEnv`](super::datadog_env::DatadogEnv)) and that a container ID
//! given by the user wins over a detected one; both are the caller's.

use std::path::{Path, PathBuf};

/// The inode of the host's (initial) cgroup namespace, fixed by the Linux
/// kernel (`PROC_CGROUP_INIT_INO` in `include/linux/proc_ns.h`).
pub(crate) const HOST_CGROUP_NAMESPACE_INODE: u64 = 0xEFFF_FFFB;

/// The cgroup v1 controller whose node gives the inode.
const V1_CONTROLLER: &str = "memory";

/// The mountinfo directory of Kubernetes pod sandboxes, whose IDs are not ours.
const SANDBOXES: &str = "sandboxes";

/// Finds this process's container ID, or the `in-<inode>` of its cgroup,
/// reading `proc/self/cgroup`, `proc/self/mountinfo`, `proc/self/ns/cgroup`
/// and `sys/fs/cgroup` under `root` (`/` in production). `None` outside a
/// container, or when nothing identifies it.
///
/// The value is what goes after `|c:` on the wire.
pub(crate) fn detect_container_id(root: &Path) -> Option<String> {
    detect(root, is_host_cgroup_namespace(root))
}

/// [`detect_container_id`] with the namespace test given, so that both
/// answers can be tested on fixtures.
fn detect(root: &Path, host_cgroup_namespace: bool) -> Option<String> {
    let cgroup = read(&root.join("proc/self/cgroup"));
    if let Some(id) = container_id_from_cgroup(&cgroup) {
        return Some(id.to_owned());
    }
    let mountinfo = read(&root.join("proc/self/mountinfo"));
    if let Some(id) = container_id_from_mountinfo(&mountinfo) {
        return Some(id.to_owned());
    }
    if host_cgroup_namespace {
        return None;
    }
    cgroup_inode(root, &cgroup)
}

/// Reads a file as text; missing or unreadable is empty, invalid UTF-8 is
/// replaced (the parts we look for are ASCII).
fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Lines without their `\r`, as a line scanner gives them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
}

/// Whether `<root>/proc/self/ns/cgroup` is the host's cgroup namespace. False
/// when it cannot be read (no cgroup namespaces, or a fixture tree).
pub(crate) fn is_host_cgroup_namespace(root: &Path) -> bool {
    inode(&root.join("proc/self/ns/cgroup")) == Some(HOST_CGROUP_NAMESPACE_INODE)
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|metadata| metadata.ino())
}

#[cfg(not(unix))]
fn inode(_path: &Path) -> Option<u64> {
    None
}

// ---------------------------------------------------------------------------
// Step 1: /proc/self/cgroup

/// The first container ID at the end of a cgroup path in `/proc/self/cgroup`.
fn container_id_from_cgroup(text: &str) -> Option<&str> {
    lines(text)
        .filter_map(cgroup_line_path)
        .find_map(container_id_at_end)
}

/// The path of a line `<digits>:<controllers without ':'>:<non-empty path>`.
fn cgroup_line_path(line: &str) -> Option<&str> {
    let (hierarchy, rest) = line.split_once(':')?;
    if hierarchy.is_empty() || !hierarchy.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (_controllers, path) = rest.split_once(':')?;
    (!path.is_empty()).then_some(path)
}

/// A container ID that ends `path`, or is followed by one character and
/// `scope` and nothing else. The leftmost such ID wins, and at one position
/// the UUID form is tried first, then 64 hex digits, then the ECS form with
/// as many digits as possible (the order of datadog-go's pattern).
fn container_id_at_end(path: &str) -> Option<&str> {
    let bytes = path.as_bytes();
    for start in 0..bytes.len() {
        let at = &bytes[start..];
        let candidates = uuid_len(at)
            .into_iter()
            .chain(hex_len(at, 64))
            .chain(ecs_task_lens(at));
        for len in candidates {
            if ends_path(&path[start + len..]) {
                return Some(&path[start..start + len]);
            }
        }
    }
    None
}

/// Whether what follows an ID ends the cgroup path: nothing, or exactly one
/// character and `scope` (`.scope` in practice).
fn ends_path(rest: &str) -> bool {
    rest.is_empty()
        || rest
            .strip_suffix("scope")
            .is_some_and(|before| before.chars().count() == 1)
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// `len` lowercase hex digits at the start of `bytes`.
fn hex_len(bytes: &[u8], len: usize) -> Option<usize> {
    (bytes.len() >= len && bytes[..len].iter().all(|&b| is_hex(b))).then_some(len)
}

/// A UUID at the start of `bytes`: 8-4-4-4-12 lowercase hex digits, each
/// separator `-` or `_`.
fn uuid_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    for (i, group) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            match bytes.get(at) {
                Some(b'-' | b'_') => at += 1,
                _ => return None,
            }
        }
        hex_len(&bytes[at..], group)?;
        at += group;
    }
    Some(at)
}

/// The lengths of an ECS task ID at the start of `bytes` (32 hex digits, `-`,
/// one or more decimal digits), longest first.
fn ecs_task_lens(bytes: &[u8]) -> impl Iterator<Item = usize> {
    let digits = match hex_len(bytes, 32) {
        Some(_) if bytes.get(32) == Some(&b'-') => bytes[33..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count(),
        _ => 0,
    };
    (1..=digits).rev().map(|n| 33 + n)
}

// ---------------------------------------------------------------------------
// Step 2: /proc/self/mountinfo

/// The container ID of the first mountinfo line that names one.
fn container_id_from_mountinfo(text: &str) -> Option<&str> {
    lines(text).find_map(mountinfo_line_id)
}

/// Whitespace as datadog-go's pattern means it (`\s`: tab, newline, form
/// feed, carriage return, space).
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// On one line: the rightmost `/<dir>/<id>/<non-space>*hostname`; its ID,
/// unless `<dir>` is `sandboxes`, in which case the line gives nothing (the
/// matches further left are not looked at).
fn mountinfo_line_id(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    for slash in (0..bytes.len()).rev().filter(|&i| bytes[i] == b'/') {
        let dir_start = slash + 1;
        let dir_len = bytes[dir_start..]
            .iter()
            .take_while(|&&b| b != b'/' && !is_space(b))
            .count();
        let dir_end = dir_start + dir_len;
        if dir_len == 0 || bytes.get(dir_end) != Some(&b'/') {
            continue;
        }
        let id_start = dir_end + 1;
        let Some(id_len) = mountinfo_id_len(&bytes[id_start..]) else {
            continue;
        };
        let after = id_start + id_len + 1; // past the '/' that closes the ID
        let run_len = bytes[after..].iter().take_while(|&&b| !is_space(b)).count();
        if !line[after..after + run_len].contains("hostname") {
            continue;
        }
        if &line[dir_start..dir_end] == SANDBOXES {
            return None;
        }
        return Some(&line[id_start..id_start + id_len]);
    }
    None
}

/// An ID that is a whole path segment (followed by `/`): 64 hex digits, or
/// the ECS form. (datadog-go's pattern also lists a Garden form, but anchors
/// it at the end of the line before the `/` that must follow it, so it never
/// matches; it is left out here.)
fn mountinfo_id_len(bytes: &[u8]) -> Option<usize> {
    hex_len(bytes, 64)
        .into_iter()
        .chain(ecs_task_lens(bytes))
        .find(|&len| bytes.get(len) == Some(&b'/'))
}

// ---------------------------------------------------------------------------
// Step 3: the cgroup node's inode

/// `in-<inode>` of the cgroup node named in `/proc/self/cgroup`: the v1
/// `memory` line first, then the v2 `0::` line. Only lines of exactly three
/// `:`-separated fields count; for a controller listed twice the last wins.
fn cgroup_inode(root: &Path, cgroup: &str) -> Option<String> {
    let mut memory = None;
    let mut unified = None;
    for line in lines(cgroup) {
        let fields: Vec<&str> = line.split(':').collect();
        if let [_, controller, path] = fields[..] {
            match controller {
                V1_CONTROLLER => memory = Some(path),
                "" => unified = Some(path),
                _ => {}
            }
        }
    }
    [(V1_CONTROLLER, memory), ("", unified)]
        .into_iter()
        .filter_map(|(controller, path)| Some((controller, path?)))
        .find_map(|(controller, path)| {
            let node = under_root(root, &["sys/fs/cgroup", controller, path]);
            inode(&node).map(|inode| format!("in-{inode}"))
        })
}

/// Joins `parts` as one absolute path, cleaned lexically (`.` dropped, `..`
/// removing the previous segment but never going above `/`), placed under
/// `root`.
fn under_root(root: &Path, parts: &[&str]) -> PathBuf {
    let mut segments: Vec<&str> = Vec::new();
    for segment in parts.iter().flat_map(|part| part.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut path = root.to_path_buf();
    path.extend(segments);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_dir::TestDir;

    const K8S_ID: &str = "8c046cb0b72cd4c99f51b5591cd5b095967f58ee003710a45280c28ee1a9c7fa";
    const DOCKER_ID: &str = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376";

    /// A fixture root with the given `/proc/self/cgroup` and mountinfo.
    fn root(label: &str, cgroup: Option<&str>, mountinfo: Option<&str>) -> TestDir {
        let dir = TestDir::new(label);
        if let Some(cgroup) = cgroup {
            dir.write("proc/self/cgroup", cgroup);
        }
        if let Some(mountinfo) = mountinfo {
            dir.write("proc/self/mountinfo", mountinfo);
        }
        dir
    }

    #[cfg(unix)]
    fn inode_of(path: &Path) -> String {
        format!("in-{}", inode(path).expect("fixture exists"))
    }

    #[test]
    fn cgroup_lines_from_datadog_go() {
        // DataDog/datadog-go statsd/container_test.go, TestParseContainerID
        // (run on Linux only; the brief's container_linux_test.go does not
        // exist, the tests are in container_test.go behind a linux build tag).
        let pod = "/kubepods/burstable/podfd52ef25-a87d-11e9-9423-0800271a638e/";
        let many = [
            "10:hugetlb",
            "9:cpuset",
            "8:pids",
            "7:freezer",
            "6:cpu,cpuacct",
            "5:perf_event",
            "4:blkio",
            "3:devices",
            "2:net_cls,net_prio",
        ]
        .iter()
        .map(|prefix| format!("{prefix}:{pod}{K8S_ID}"))
        .collect::<Vec<_>>()
        .join("\n");
        let cases: Vec<(String, Option<&str>)> = vec![
            (format!("other_line\n{many}"), Some(K8S_ID)),
            (format!("10:hugetlb:{pod}{K8S_ID}"), Some(K8S_ID)),
            ("10:hugetlb:/kubepods".into(), None),
            (
                "11:hugetlb:/ecs/55091c13-b8cf-4801-b527-f4601742204d/432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da".into(),
                Some("432624d2150b349fe35ba397284dea788c2bf66b885d14dfc1569b01890ca7da"),
            ),
            (format!("1:name=systemd:/docker/{DOCKER_ID}"), Some(DOCKER_ID)),
            (
                "1:name=systemd:/uuid/34dc0b5e-626f-2c5c-4c51-70e34b10e765".into(),
                Some("34dc0b5e-626f-2c5c-4c51-70e34b10e765"),
            ),
            (
                "1:name=systemd:/ecs/34dc0b5e626f2c5c4c5170e34b10e765-1234567890".into(),
                Some("34dc0b5e626f2c5c4c5170e34b10e765-1234567890"),
            ),
            (format!("1:name=systemd:/docker/{DOCKER_ID}.scope"), Some(DOCKER_ID)),
            (
                format!("1:name=systemd:/nope\n2:pids:/docker/{DOCKER_ID}\n3:cpu:/invalid"),
                Some(DOCKER_ID),
            ),
        ];
        for (input, expected) in &cases {
            assert_eq!(container_id_from_cgroup(input), *expected, "{input}");
        }
    }

    #[test]
    fn cgroup_lines_of_other_runtimes() {
        // Ours, not from datadog-go's tests: the forms of the systemd cgroup
        // driver, CRI-O, podman and ECS on Fargate, and the edges of the rule.
        let id = DOCKER_ID;
        let cases: Vec<(String, Option<String>)> = vec![
            // Docker, cgroup v1 and v2 with the systemd driver.
            (format!("12:memory:/docker/{id}"), Some(id.into())),
            (format!("0::/system.slice/docker-{id}.scope"), Some(id.into())),
            // Kubernetes with CRI-O, cgroup v2.
            (
                format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crio-{id}.scope"),
                Some(id.into()),
            ),
            // Kubernetes with containerd, cgroup v2, systemd driver.
            (
                format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5678.slice/cri-containerd-{id}.scope"),
                Some(id.into()),
            ),
            // Podman, rootful and rootless.
            (format!("0::/machine.slice/libpod-{id}.scope"), Some(id.into())),
            (
                format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container"),
                None,
            ),
            // ECS on Fargate: a task ID, then the container's task-ID form.
            (
                "0::/ecs/8f0e2b3c4d5a6e7f8091a2b3c4d5e6f7/8f0e2b3c4d5a6e7f8091a2b3c4d5e6f7-3055451211".into(),
                Some("8f0e2b3c4d5a6e7f8091a2b3c4d5e6f7-3055451211".into()),
            ),
            // The ID must end the path: a suffix other than one char + "scope" hides it.
            (format!("0::/docker/{id}/init"), None),
            (format!("0::/docker/{id}.scopes"), None),
            (format!("0::/docker/{id}xscope"), Some(id.into())),
            // Uppercase hex is not an ID.
            (format!("0::/docker/{}", id.to_uppercase()), None),
            // Longer hex runs: the ID is the last 64 digits.
            (format!("0::/abc{id}"), Some(id.into())),
            // The cgroup v2 root and lines that are not cgroup lines.
            ("0::/".into(), None),
            (format!("x::/docker/{id}"), None),
            (format!(":memory:/docker/{id}"), None),
            (format!("4:memory/docker/{id}"), None),
            (format!("4:memory:/docker/{id}\r"), Some(id.into())),
            ("".into(), None),
        ];
        for (input, expected) in &cases {
            assert_eq!(
                container_id_from_cgroup(input),
                expected.as_deref(),
                "{input}"
            );
        }
    }

    #[test]
    fn mountinfo_files_from_datadog_go() {
        // DataDog/datadog-go statsd/container_test.go, TestParseMountinfo.
        let cases = [
            // Docker on cgroup v2: the ID in /var/lib/docker/containers/<id>/hostname.
            (
                include_str!("origin/testdata/mountinfo_docker_cgroupv2.txt"),
                Some("0cfa82bf3ab29da271548d6a044e95c948c6fd2f7578fb41833a44ca23da425f"),
            ),
            // Kubernetes with containerd: only the pod sandbox is named.
            (include_str!("origin/testdata/mountinfo_k8s_containerd_sandbox_only.txt"), None),
            // Kubernetes with containerd, the Agent's own pod: the ID in a
            // io.containerd.runtime.v2.task/k8s.io/<id>/rootfs/etc/hostname target.
            (
                include_str!("origin/testdata/mountinfo_k8s_containerd.txt"),
                Some("fc7038bc73a8d3850c66ddbfb0b2901afa378bfcbb942cc384b051767e4ac6b0"),
            ),
            // The rightmost match is a sandbox: the line gives nothing, even
            // though a 64-hex volume ID further left is followed by hostname.
            (
                "1258 1249 254:1 /docker/volumes/0919c2d87ec8ba99f3c85fdada5fe26eca73b2fce73a5974d6030f30bf91cbaf/_data/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/ca30bb64884083e29b1dc08a1081dd2df123f13f045dadb64dc346e56c0b6871/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw,discard",
                None,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(container_id_from_mountinfo(input), expected, "{input:.80}");
        }
    }

    #[test]
    fn mountinfo_lines_of_other_runtimes() {
        // Ours: podman and CRI-O keep hostname under overlay-containers/<id>/userdata.
        let id = DOCKER_ID;
        let cases: Vec<(String, Option<&str>)> = vec![
            (
                format!("1339 1330 0:99 /var/lib/containers/storage/overlay-containers/{id}/userdata/hostname /etc/hostname rw,nosuid,nodev - tmpfs tmpfs rw"),
                Some(id),
            ),
            (
                format!("2011 2002 0:26 /containers/storage/overlay-containers/{id}/userdata/hostname /etc/hostname rw,nosuid,nodev - tmpfs tmpfs rw,mode=755"),
                Some(id),
            ),
            // ECS task form.
            (
                "1 2 3:4 /ecs/8f0e2b3c4d5a6e7f8091a2b3c4d5e6f7-12/hostname /etc/hostname rw - ext4 /dev/x rw".into(),
                Some("8f0e2b3c4d5a6e7f8091a2b3c4d5e6f7-12"),
            ),
            // Not followed by hostname before the next space.
            (format!("626 608 259:1 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw - ext4 /dev/root rw"), None),
            // The ID must be a whole segment.
            (format!("1 2 3:4 /var/lib/docker/containers/{id}x/hostname /etc/hostname rw"), None),
            ("".into(), None),
        ];
        for (input, expected) in &cases {
            assert_eq!(container_id_from_mountinfo(input), *expected, "{input}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn cgroup_inode_cases_from_datadog_go() {
        // DataDog/datadog-go statsd/container_test.go, TestGetCgroupInode.
        let node = "system.slice/docker-abcdef0123456789abcdef0123456789.scope";
        let hybrid = |first: &str| {
            format!("\n{first}:/system.slice/docker-abcdef0123456789abcdef0123456789.scope\n2:net_cls,net_prio:c\n1:name=systemd:b\n0::a\n")
        };
        // (description, controller dir, /proc/self/cgroup, node dir, expect an inode)
        let cases = [
            ("cgroup2 only", "", format!("0::/{node}\n"), node, true),
            (
                "hybrid, memory controller",
                "memory",
                hybrid("3:memory"),
                node,
                true,
            ),
            (
                "neither memory nor the v2 line",
                "cpu",
                hybrid("3:cpu"),
                node,
                false,
            ),
            (
                "the node does not exist",
                "",
                hybrid("3:memory"),
                "dummy.scope",
                false,
            ),
            (
                "no entry in /proc/self/cgroup",
                "",
                "nothing".to_owned(),
                node,
                false,
            ),
        ];
        for (description, controller, cgroup, node_dir, expected) in cases {
            let dir = root("inode", Some(&cgroup), None);
            let node_path = dir.mkdir(&format!("sys/fs/cgroup/{controller}/{node_dir}"));
            let want = expected.then(|| inode_of(&node_path));
            assert_eq!(cgroup_inode(dir.path(), &cgroup), want, "{description}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn cgroup_node_paths_from_datadog_go() {
        // DataDog/datadog-go statsd/container_test.go, TestParsegroupControllerPath:
        // which node each /proc/self/cgroup gives, seen through the inode found.
        let dir = TestDir::new("nodes");
        let top = dir.mkdir("sys/fs/cgroup");
        let abc = dir.mkdir("sys/fs/cgroup/docker/abc123");
        let memory_abc = dir.mkdir("sys/fs/cgroup/memory/docker/abc123");
        let cases = [
            ("cgroup2 normal case", "0::/", Some(&top)),
            ("hybrid", "other_line\n0::/\n1:memory:/docker/abc123", Some(&memory_abc)),
            (
                "with other controllers",
                "other_line\n12:pids:/docker/abc123\n11:hugetlb:/docker/abc123\n10:net_cls,net_prio:/docker/abc123\n0::/docker/abc123\n",
                Some(&abc),
            ),
            ("no controller", "empty", None),
        ];
        for (description, cgroup, node) in cases {
            assert_eq!(
                cgroup_inode(dir.path(), cgroup),
                node.map(|path| inode_of(path)),
                "{description}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn detection_order_from_datadog_go() {
        // DataDog/datadog-go statsd/container_test.go, TestReadCIDOrInode.
        let k8s_cgroup = format!(
            "4:blkio:/kubepods/burstable/podfd52ef25-a87d-11e9-9423-0800271a638e/{K8S_ID}\n"
        );
        let mountinfo = "2282 2269 8:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/c0a82a3506b0366c9666f6dbe71c783abeb26ba65e312e918a49e10a277196d0/hostname /host/var/run/containerd/io.containerd.runtime.v2.task/k8s.io/fc7038bc73a8d3850c66ddbfb0b2901afa378bfcbb942cc384b051767e4ac6b0/rootfs/etc/hostname rw,nosuid,nodev,relatime - ext4 /dev/sda1 rw,commit=30\n";
        let mount_id = "fc7038bc73a8d3850c66ddbfb0b2901afa378bfcbb942cc384b051767e4ac6b0";
        let node = "system.slice/docker-abcdef0123456789abcdef0123456789.scope";
        let v2_cgroup = format!("0::/{node}\n");

        for host_ns in [true, false] {
            let dir = root("order-cgroup", Some(&k8s_cgroup), None);
            assert_eq!(
                detect(dir.path(), host_ns).as_deref(),
                Some(K8S_ID),
                "cgroup, host ns {host_ns}"
            );

            let dir = root("order-mountinfo", None, Some(mountinfo));
            assert_eq!(
                detect(dir.path(), host_ns).as_deref(),
                Some(mount_id),
                "mountinfo, host ns {host_ns}"
            );
        }

        let dir = root("order-inode", Some(&v2_cgroup), None);
        let node_path = dir.mkdir(&format!("sys/fs/cgroup/{node}"));
        assert_eq!(
            detect(dir.path(), false),
            Some(inode_of(&node_path)),
            "inode in a private namespace"
        );
        assert_eq!(
            detect(dir.path(), true),
            None,
            "no inode in the host namespace"
        );
    }

    #[cfg(unix)]
    #[test]
    fn detect_container_id_reads_a_whole_fixture_root() {
        // Docker on cgroup v1: /proc/self/cgroup alone gives the ID.
        let dir = root(
            "docker-v1",
            Some(&format!(
                "12:memory:/docker/{DOCKER_ID}\n11:cpu:/docker/{DOCKER_ID}\n"
            )),
            None,
        );
        assert_eq!(detect_container_id(dir.path()).as_deref(), Some(DOCKER_ID));

        // Docker on cgroup v2 with a private namespace: "0::/" and mountinfo.
        let dir = root(
            "docker-v2",
            Some("0::/\n"),
            Some(include_str!(
                "origin/testdata/mountinfo_docker_cgroupv2.txt"
            )),
        );
        assert_eq!(
            detect_container_id(dir.path()).as_deref(),
            Some("0cfa82bf3ab29da271548d6a044e95c948c6fd2f7578fb41833a44ca23da425f")
        );

        // Kubernetes/containerd in a private namespace, only the sandbox in
        // mountinfo: the inode of the namespace's cgroup root.
        let dir = root(
            "k8s-inode",
            Some("0::/\n"),
            Some(include_str!(
                "origin/testdata/mountinfo_k8s_containerd_sandbox_only.txt"
            )),
        );
        let top = dir.mkdir("sys/fs/cgroup");
        assert_eq!(detect_container_id(dir.path()), Some(inode_of(&top)));

        // `..` in a cgroup path is resolved lexically, as datadog-go's
        // path.Join does ("/sys/fs/cgroup/../../x" is "/sys/x"), and never
        // climbs above the root.
        let dir = root("dotdot", Some("0::/../../x\n"), None);
        let sys_x = dir.mkdir("sys/x");
        dir.mkdir("sys/fs/cgroup/x");
        assert_eq!(detect_container_id(dir.path()), Some(inode_of(&sys_x)));
        let dir = root("dotdot-top", Some("0::/../../../../../../x\n"), None);
        let top_x = dir.mkdir("x");
        assert_eq!(detect_container_id(dir.path()), Some(inode_of(&top_x)));
    }

    #[test]
    fn not_in_a_container_is_none() {
        // A host process on cgroup v2: a systemd slice, no container ID, no
        // container mounts, and the host cgroup namespace.
        let cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n";
        let mountinfo = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
                         25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n";
        let dir = root("host", Some(cgroup), Some(mountinfo));
        dir.mkdir("sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope");
        assert_eq!(detect(dir.path(), true), None);

        // Nothing readable at all (no /proc, as on a fixture or another OS).
        let empty = TestDir::new("empty");
        assert_eq!(detect_container_id(empty.path()), None);
        assert!(!is_host_cgroup_namespace(empty.path()));
    }

    #[test]
    fn the_real_system_does_not_panic() {
        // Whatever this machine is, detection answers without failing.
        let found = detect_container_id(Path::new("/"));
        let host = is_host_cgroup_namespace(Path::new("/"));
        eprintln!("this machine: host cgroup namespace {host}, container id {found:?}");
    }

    #[test]
    fn paths_are_cleaned_under_the_root() {
        let root = Path::new("/fixture");
        assert_eq!(
            under_root(root, &["sys/fs/cgroup", "", "/"]),
            Path::new("/fixture/sys/fs/cgroup")
        );
        assert_eq!(
            under_root(root, &["sys/fs/cgroup", "memory", "/docker/./abc"]),
            Path::new("/fixture/sys/fs/cgroup/memory/docker/abc")
        );
        assert_eq!(
            under_root(root, &["sys/fs/cgroup", "", "/../../../.."]),
            Path::new("/fixture")
        );
    }
}
