//! `docker system df` for the machine page: what images, containers, volumes and the build
//! cache take on the machine's disk, and how much of it pruning would free. Read from the
//! daemon's own JSON: dockerd before API 1.52 lists every object (`LayersSize`, `Images`, …),
//! later ones give totals (`ImageUsage`, …); both are understood.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct UsageRow {
    pub count: i64,
    /// In use (images by containers, containers running, volumes mounted).
    pub active: i64,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: i64,
    /// Bytes a prune would free.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub reclaimable: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    pub images: UsageRow,
    pub containers: UsageRow,
    pub volumes: UsageRow,
    pub build_cache: UsageRow,
    /// Each volume's size where Docker measured it (local volumes), by name.
    #[cfg_attr(feature = "ts", ts(type = "Array<[string, number]>"))]
    pub volume_sizes: Vec<(String, i64)>,
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0).max(0)
}

fn items<'a>(df: &'a Value, key: &str) -> &'a [Value] {
    df[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Reads `GET /system/df`'s answer, old or new.
pub fn parse(df: &Value) -> DiskUsage {
    if df.get("ImageUsage").is_some() {
        let totals = |key: &str| UsageRow {
            count: int(&df[key]["TotalCount"]),
            active: int(&df[key]["ActiveCount"]),
            size: int(&df[key]["TotalSize"]),
            reclaimable: int(&df[key]["Reclaimable"]),
        };
        return DiskUsage {
            images: totals("ImageUsage"),
            containers: totals("ContainerUsage"),
            volumes: totals("VolumeUsage"),
            build_cache: totals("BuildCacheUsage"),
            volume_sizes: volume_sizes(
                df["VolumeUsage"]["Items"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            ),
        };
    }
    let images = items(df, "Images");
    let used_images: Vec<&Value> = images
        .iter()
        .filter(|i| int(&i["Containers"]) > 0)
        .collect();
    // As the docker CLI counts it: the layers no container's image holds.
    let image_bytes = int(&df["LayersSize"]);
    let held: i64 = used_images
        .iter()
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum::<i64>()
        + used_images
            .iter()
            .map(|i| int(&i["SharedSize"]))
            .max()
            .unwrap_or(0);
    let containers = items(df, "Containers");
    let volumes = items(df, "Volumes");
    let cache = items(df, "BuildCache");
    let volume_size = |v: &Value| int(&v["UsageData"]["Size"]);
    DiskUsage {
        images: UsageRow {
            count: images.len() as i64,
            active: used_images.len() as i64,
            size: image_bytes,
            reclaimable: (image_bytes - held).max(0),
        },
        containers: UsageRow {
            count: containers.len() as i64,
            active: containers
                .iter()
                .filter(|c| c["State"] == "running")
                .count() as i64,
            size: containers.iter().map(|c| int(&c["SizeRw"])).sum(),
            reclaimable: containers
                .iter()
                .filter(|c| c["State"] != "running")
                .map(|c| int(&c["SizeRw"]))
                .sum(),
        },
        volumes: UsageRow {
            count: volumes.len() as i64,
            active: volumes
                .iter()
                .filter(|v| int(&v["UsageData"]["RefCount"]) > 0)
                .count() as i64,
            size: volumes.iter().map(volume_size).sum(),
            reclaimable: volumes
                .iter()
                .filter(|v| int(&v["UsageData"]["RefCount"]) == 0)
                .map(volume_size)
                .sum(),
        },
        build_cache: UsageRow {
            count: cache.len() as i64,
            active: cache.iter().filter(|c| c["InUse"] == true).count() as i64,
            size: cache.iter().map(|c| int(&c["Size"])).sum(),
            reclaimable: cache
                .iter()
                .filter(|c| c["InUse"] != true && c["Shared"] != true)
                .map(|c| int(&c["Size"]))
                .sum(),
        },
        volume_sizes: volume_sizes(volumes),
    }
}

fn volume_sizes(volumes: &[Value]) -> Vec<(String, i64)> {
    volumes
        .iter()
        .filter_map(|v| {
            let size = v["UsageData"]["Size"].as_i64().filter(|s| *s >= 0)?;
            Some((v["Name"].as_str()?.to_string(), size))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_old_answer_is_summed_as_the_docker_cli_does() {
        let df = json!({
            "LayersSize": 1000,
            "Images": [
                {"Id": "a", "Size": 600, "SharedSize": 100, "Containers": 1},
                {"Id": "b", "Size": 500, "SharedSize": 100, "Containers": 0}
            ],
            "Containers": [
                {"State": "running", "SizeRw": 10},
                {"State": "exited", "SizeRw": 5}
            ],
            "Volumes": [
                {"Name": "data", "UsageData": {"Size": 300, "RefCount": 1}},
                {"Name": "old", "UsageData": {"Size": 200, "RefCount": 0}},
                {"Name": "remote", "UsageData": {"Size": -1, "RefCount": 0}}
            ],
            "BuildCache": [{"Size": 50, "InUse": false, "Shared": false}]
        });
        let u = parse(&df);
        assert_eq!(
            u.images,
            UsageRow {
                count: 2,
                active: 1,
                size: 1000,
                reclaimable: 400
            }
        );
        assert_eq!((u.containers.size, u.containers.reclaimable), (15, 5));
        assert_eq!((u.volumes.count, u.volumes.active), (3, 1));
        assert_eq!((u.volumes.size, u.volumes.reclaimable), (500, 200));
        assert_eq!(u.build_cache.reclaimable, 50);
        assert_eq!(
            u.volume_sizes,
            vec![("data".to_string(), 300), ("old".to_string(), 200)]
        );
    }

    #[test]
    fn the_new_answer_is_read_as_given() {
        let df = json!({
            "ImageUsage": {"ActiveCount": 1, "TotalCount": 4, "Reclaimable": 70, "TotalSize": 90},
            "ContainerUsage": {"ActiveCount": 1, "TotalCount": 2, "Reclaimable": 0, "TotalSize": 3},
            "VolumeUsage": {"ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0},
            "BuildCacheUsage": {"ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0}
        });
        let u = parse(&df);
        assert_eq!(
            (u.images.count, u.images.size, u.images.reclaimable),
            (4, 90, 70)
        );
        assert_eq!(u.containers.active, 1);
        assert!(u.volume_sizes.is_empty());
        assert_eq!(parse(&json!({})), DiskUsage::default(), "nothing known");
    }
}
