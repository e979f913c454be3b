# Freeze the validated experiment into its content-addressed bundle; fails when the bundle primus-cli
# wrote is not the one planned at parse time (the two hash recipes must agree).
rule resolve_experiment:
    input:
        stamp=lambda wc: validated_stamp(),
        image_id=lambda wc: image_id_file() if PLAN.runtime == "container" else [],
    output:
        manifest=f"{BUNDLE}/manifest.json",
    log:
        f"{RUNS}/.workflow/{{exp_name}}/{{bundle_hash}}/resolve_experiment.log",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        runs_dir=lambda wc, output: Path(output.manifest).parents[2],
        image=lambda wc, input: (
            f"--image-id-file {input.image_id}" if input.image_id else ""
        ),
        exp=EXP_ARGS,
        bundle=lambda wc, output: Path(output.manifest).parent,
    shell:
        # Snakemake creates the (empty) bundle folder for the output; freeze wants to create it itself.
        "rmdir {params.bundle} 2>/dev/null || true; "
        "frozen=$({params.cli} resolve --freeze --runs-dir {params.runs_dir} {params.image} {params.exp} "
        '2> {log}) || {{ cat {log} >&2; exit 2; }}; echo "$frozen" >> {log}; '
        'test "$frozen" = {params.bundle} || {{ echo "froze $frozen, planned {params.bundle}" >&2; exit 1; }}'
