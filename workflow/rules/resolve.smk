# Freeze a validated run into its content-addressed bundle; fails when the bundle primus-cli
# wrote is not the one planned at parse time (the two hash recipes must agree). The output is a stamp
# holding the bundle path, never a bundle file: Snakemake deletes a rule's outputs before rerunning it,
# and a bundle is immutable (freeze of the same content returns the existing bundle untouched).
rule resolve_experiment:
    input:
        stamp=lambda wc: validated_stamp(run_of_bundle(wc)),
        image_id=lambda wc: image_id_file() if PLAN.runtime == "container" else [],
        assets=lambda wc: assets_record(run_of_bundle(wc)),
    output:
        frozen=f"{WORK}/{{bundle_hash}}/frozen",
    log:
        f"{WORK}/{{bundle_hash}}/resolve_experiment.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        runs_dir=lambda wc, output: runs_dir_of(output.frozen),
        image=lambda wc, input: (
            ["--image-id-file", input.image_id] if input.image_id else []
        ),
        exp=lambda wc: run_of_bundle(wc).cli_args,
        bundle=lambda wc, output: runs_dir_of(output.frozen)
        / wc.exp_name
        / wc.bundle_hash,
    shell:
        "frozen=$({params.cli} resolve --freeze --runs-dir {params.runs_dir:q} {params.image:q} "
        "{params.exp} 2> {log:q}) || {{ cat {log:q} >&2; exit 2; }}; "
        'test "$frozen" = {params.bundle:q} || '
        '{{ echo "froze $frozen, planned "{params.bundle:q} | tee -a {log:q} >&2; exit 1; }}; '
        "echo {params.bundle:q} > {output.frozen:q}"
