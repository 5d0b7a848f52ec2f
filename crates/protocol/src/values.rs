//! The value types of `lab-agent` options: each parses from its command-line spelling
//! (`FromStr`, with the message clap shows) and serializes back to that same spelling.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Declares an option value enum: its variants, their command-line names, `FromStr` (with
/// `$norm` applied to the input first and `$err` as the message), `Display` and `Serialize`.
macro_rules! value_enum {
    (
        $(#[$meta:meta])* $name:ident, norm = $norm:expr, err = $err:literal,
        { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in the order the help lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The command-line spelling.
            pub fn name(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let norm: fn(&str) -> String = $norm;
                let other = norm(s);
                match other.as_str() {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(format!($err, other = other)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

value_enum! {
    /// The query/retrieve level of a C-FIND, C-MOVE or C-GET.
    FindLevel, norm = |s| s.to_ascii_lowercase(),
    err = "unknown level '{other}': use patient, study or series",
    { Patient => "patient", Study => "study", Series => "series" }
}

value_enum! {
    /// The kind of images in a synthetic study.
    Modality, norm = |s| s.to_ascii_uppercase(),
    err = "unknown modality '{other}': this agent can generate XA (X-ray angiography), \
           CT, MR, CR (computed radiography) or US (ultrasound)",
    {
        /// X-Ray Angiographic Image Storage (the paper's case), 8-bit.
        Xa => "XA",
        /// CT Image Storage, 16-bit (12 bits stored).
        Ct => "CT",
        /// MR Image Storage, 16-bit (12 bits stored).
        Mr => "MR",
        /// Computed Radiography Image Storage, 16-bit, MONOCHROME1.
        Cr => "CR",
        /// Ultrasound Image Storage, 8-bit colour.
        Us => "US",
    }
}

value_enum! {
    /// The transfer syntax of a synthetic study.
    Syntax, norm = |s| s.to_string(),
    err = "unknown transfer syntax '{other}': use jpeg-baseline or explicit-le",
    {
        /// JPEG Baseline (Process 1): encapsulated 8-bit JPEG.
        JpegBaseline => "jpeg-baseline",
        /// Explicit VR Little Endian: native pixels.
        ExplicitLe => "explicit-le",
    }
}

value_enum! {
    /// A rule of `lab-agent ids` (what each detects: crates/agent/src/ids.rs).
    IdsRule, norm = |s| s.to_string(),
    err = "unknown IDS rule '{other}': use aet-brute-force, c-find-sweep, association-flood, phi-in-clear or pe-preamble",
    {
        /// A-ASSOCIATE-RJ for AE-title reasons, counted per source.
        AetBruteForce => "aet-brute-force",
        /// C-FIND requests, counted per source.
        CFindSweep => "c-find-sweep",
        /// A-ASSOCIATE-RQ, counted per source.
        AssociationFlood => "association-flood",
        /// A PatientName readable in a clear data set.
        PhiInClear => "phi-in-clear",
        /// A DICOM file whose preamble is an executable (CVE-2019-11687).
        PePreamble => "pe-preamble",
    }
}

impl IdsRule {
    /// The largest threshold a rule takes (a count within one window).
    pub const MAX_THRESHOLD: u64 = 100_000;

    /// What the rule counts, for help texts and the lab file's schema.
    pub fn describe(self) -> &'static str {
        match self {
            IdsRule::AetBruteForce => {
                "A-ASSOCIATE-RJ for AE-title reasons from one source within the window (default 5)."
            }
            IdsRule::CFindSweep => {
                "C-FIND requests from one source within the window (default 10)."
            }
            IdsRule::AssociationFlood => {
                "A-ASSOCIATE-RQ from one source within the window (default 50)."
            }
            IdsRule::PhiInClear => {
                "Clear data sets with a PatientName from one source (default 1)."
            }
            IdsRule::PePreamble => {
                "DICOM files with an executable preamble (CVE-2019-11687) from one source (default 1)."
            }
        }
    }

    /// The count within the window that fires the rule when a lab does not say.
    pub fn default_threshold(self) -> u64 {
        match self {
            IdsRule::AetBruteForce => 5,
            IdsRule::CFindSweep => 10,
            IdsRule::AssociationFlood => 50,
            IdsRule::PhiInClear | IdsRule::PePreamble => 1,
        }
    }
}

value_enum! {
    /// Which TLS versions the client offers.
    TlsVersion, norm = |s| s.to_string(),
    err = "unknown TLS version '{other}': use 1.2, 1.3 or any",
    {
        /// TLS 1.2 and 1.3 (the server picks).
        Any => "any",
        V1_2 => "1.2",
        V1_3 => "1.3",
    }
}

// The enum is declared by `value_enum!`, whose derive list is shared: no `#[default]` there.
#[allow(clippy::derivable_impls)]
impl Default for TlsVersion {
    fn default() -> Self {
        TlsVersion::Any
    }
}

value_enum! {
    /// The preamble `upload-polyglot` writes.
    Preamble, norm = |s| s.to_ascii_lowercase(),
    err = "unknown preamble '{other}': use pe, elf or tiff",
    {
        /// A DOS/PE header (CVE-2019-11687).
        Pe => "pe",
        /// An ELF64 header (CVE-2019-11687).
        Elf => "elf",
        /// A little-endian TIFF header (legitimate).
        Tiff => "tiff",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_back_from_its_name() {
        for v in FindLevel::ALL {
            assert_eq!(v.name().parse::<FindLevel>().unwrap(), *v);
        }
        for v in Modality::ALL {
            assert_eq!(v.name().parse::<Modality>().unwrap(), *v);
        }
        for v in Syntax::ALL {
            assert_eq!(v.name().parse::<Syntax>().unwrap(), *v);
        }
        for v in TlsVersion::ALL {
            assert_eq!(v.name().parse::<TlsVersion>().unwrap(), *v);
        }
        for v in Preamble::ALL {
            assert_eq!(v.name().parse::<Preamble>().unwrap(), *v);
        }
        assert_eq!("xa".parse::<Modality>().unwrap(), Modality::Xa);
        assert_eq!("STUDY".parse::<FindLevel>().unwrap(), FindLevel::Study);
        assert!("x".parse::<Syntax>().unwrap_err().contains("'x'"));
    }
}
