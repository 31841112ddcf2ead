//! The CPU from /proc/cpuinfo: model, and logical cores, physical cores and sockets where the
//! topology lines ("physical id", "core id") are there to derive them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::read::Reader;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub model_name: Option<String>,
    /// Processors the kernel runs on (hyper-threads count).
    pub logical_cores: Option<u32>,
    pub physical_cores: Option<u32>,
    pub sockets: Option<u32>,
}

pub(super) fn read(reader: &mut Reader) -> Cpu {
    reader.parsed("cpu", "proc/cpuinfo", parse_cpuinfo).unwrap_or_default()
}

/// Keys that name the model: x86 "model name", 32-bit ARM "Processor", MIPS "cpu model",
/// POWER "cpu".
const MODEL_KEYS: [&str; 4] = ["model name", "Processor", "cpu model", "cpu"];

#[derive(Default)]
struct Processor {
    physical_id: Option<String>,
    core_id: Option<String>,
}

/// Fails only when there is not a single "processor" entry.
pub fn parse_cpuinfo(text: &str) -> Result<Cpu, String> {
    let mut processors: Vec<Processor> = Vec::new();
    let mut models: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "processor" {
            processors.push(Processor::default());
            continue;
        }
        if let Some(rank) = MODEL_KEYS.iter().position(|k| *k == key) {
            if !value.is_empty() && !value.chars().any(char::is_control) {
                models.push((rank, value.to_string()));
            }
            continue;
        }
        let Some(current) = processors.last_mut() else {
            continue;
        };
        match key {
            "physical id" => current.physical_id = Some(value.to_string()),
            "core id" => current.core_id = Some(value.to_string()),
            _ => {}
        }
    }
    if processors.is_empty() {
        return Err("no processor entries".into());
    }
    let model_name = models
        .into_iter()
        .min_by_key(|(rank, _)| *rank)
        // Old kernels pad the model: "Intel(R) Xeon(R) CPU           E5620  @ 2.40GHz".
        .map(|(_, model)| model.split_whitespace().collect::<Vec<_>>().join(" "));
    let sockets: Option<BTreeSet<&str>> = processors.iter().map(|p| p.physical_id.as_deref()).collect();
    let cores: Option<BTreeSet<(&str, &str)>> =
        processors.iter().map(|p| Some((p.physical_id.as_deref()?, p.core_id.as_deref()?))).collect();
    let count = |n: usize| u32::try_from(n).ok();
    Ok(Cpu {
        model_name,
        logical_cores: count(processors.len()),
        physical_cores: cores.and_then(|cores| count(cores.len())),
        sockets: sockets.and_then(|sockets| count(sockets.len())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from this machine (Linux vm 6.18.44-fc-v595 x86_64, Debian 12, a 2-vCPU
    /// Firecracker VM), 2026-11-24; the long "flags" and "bugs" lines are shortened.
    const CPUINFO_EPYC_2_VCPU: &str = "\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2596.134
cache size\t: 1024 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 0
cpu cores\t: 2
apicid\t\t: 0
initial apicid\t: 0
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 28
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov hypervisor
bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2
bogomips\t: 5192.26
TLB size\t: 3584 4K pages
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 48 bits physical, 48 bits virtual
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2596.134
cache size\t: 1024 KB
physical id\t: 0
siblings\t: 2
core id\t\t: 1
cpu cores\t: 2
apicid\t\t: 1
initial apicid\t: 1
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 28
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov hypervisor
bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2
bogomips\t: 5192.26
TLB size\t: 3584 4K pages
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 48 bits physical, 48 bits virtual
power management:

";

    #[test]
    fn a_two_vcpu_vm_has_two_logical_and_two_physical_cores_on_one_socket() {
        assert_eq!(
            parse_cpuinfo(CPUINFO_EPYC_2_VCPU),
            Ok(Cpu {
                model_name: Some("AMD EPYC".into()),
                logical_cores: Some(2),
                physical_cores: Some(2),
                sockets: Some(1),
            })
        );
    }

    #[test]
    fn hyper_threads_share_a_physical_core_and_padding_is_squeezed() {
        let mut text = String::new();
        for (n, (socket, core)) in [(0, 0), (0, 0), (1, 0), (1, 0)].into_iter().enumerate() {
            text.push_str(&format!(
                "processor\t: {n}\nmodel name\t: Intel(R) Xeon(R) CPU           E5620  @ 2.40GHz\n\
                 physical id\t: {socket}\ncore id\t\t: {core}\n\n"
            ));
        }
        let cpu = parse_cpuinfo(&text).expect("cpuinfo");
        assert_eq!(cpu.model_name.as_deref(), Some("Intel(R) Xeon(R) CPU E5620 @ 2.40GHz"));
        assert_eq!((cpu.logical_cores, cpu.physical_cores, cpu.sockets), (Some(4), Some(2), Some(2)));
    }

    #[test]
    fn without_topology_lines_only_logical_cores_are_known() {
        // arm64 style: no "model name", no "physical id".
        let text = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\n\
                    processor\t: 1\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n";
        assert_eq!(
            parse_cpuinfo(text),
            Ok(Cpu { model_name: None, logical_cores: Some(2), physical_cores: None, sockets: None })
        );
    }

    #[test]
    fn no_processor_entry_is_an_error() {
        assert!(parse_cpuinfo("").is_err());
        assert!(parse_cpuinfo("\u{0}\u{7f}garbage: \u{1}").is_err());
    }
}
