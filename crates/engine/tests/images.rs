//! Which images a lab needs: the toolbox and the pynetdicom modality are built only for
//! the labs that use them.

use std::path::PathBuf;

use engine::images::{Image, needed_by};

fn needs(lab: &str) -> Vec<Image> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../labs/{lab}.yaml"));
    needed_by(&scenario::load(&path, &Default::default()).unwrap())
}

#[test]
fn toolbox_and_pynetdicom_only_where_a_lab_uses_them() {
    let plain = needs("plaintext-store");
    assert!(plain.contains(&Image::Agent));
    assert!(!plain.contains(&Image::Pynetdicom) && !plain.contains(&Image::Toolbox));

    let pyn = needs("plaintext-store-pynetdicom");
    assert!(pyn.contains(&Image::Pynetdicom), "{pyn:?}");
    assert!(!pyn.contains(&Image::Toolbox));

    for lab in ["aet-any-accepted", "aet-allowlist"] {
        let v = needs(lab);
        assert!(v.contains(&Image::Toolbox), "{lab}: {v:?}");
        assert!(!v.contains(&Image::Pynetdicom), "{lab}: {v:?}");
    }
    // ARP spoofing and harvesting need nothing but the agent.
    let flat = needs("flat-network");
    assert!(!flat.contains(&Image::Toolbox), "{flat:?}");
}
