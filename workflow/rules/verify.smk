# Verify the trained bundle: verdict.json, a Markdown and an HTML report, the loss plot. In --report each
# experiment is a category; its subcategories put the verdict page first, and every file is labelled with
# its run and verdict (the landing page, report/workflow.rst, lists the verdicts).
rule verify_run:
    input:
        done=f"{BUNDLE}/{layout.DONE_PATH}",
    output:
        verdict=f"{BUNDLE}/{layout.VERDICT_PATH}",
        report=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.REPORT_MD}",
            caption="../report/verdict.rst",
            category="{exp_name}",
            subcategory="3 · report as Markdown",
            labels=report_labels("checks and summary (Markdown)"),
        ),
        html=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.REPORT_HTML}",
            caption="../report/verdict.rst",
            category="{exp_name}",
            subcategory="1 · verdict",
            labels=report_labels("verdict, run identity, checks and plots"),
        ),
        plot=report(
            f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.LOSS_PLOT}",
            caption="../report/loss.rst",
            category="{exp_name}",
            subcategory="2 · loss per step",
            labels=report_labels("loss per step"),
        ),
    log:
        f"{BUNDLE}/{layout.VERIFY_DIR}/{layout.VERIFY_RULE_LOG}",
    conda:
        "../envs/primus.yaml"
    params:
        cli=CLI,
        bundle=lambda wc, input: Path(input.done).parents[1],
    shell:
        "{params.cli} verify {params.bundle:q} 2>&1 | tee {log:q}"
