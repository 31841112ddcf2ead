# 【部署】PushAgent: the script of the Spug batch-execution template (执行解释器: sh).
# Paste this text as the template's script; its parameters are in packaging/spug/README.md.
# Spug runs it on every chosen host with SPUG_HOST_ID, SPUG_HOST_NAME, SPUG_HOST_HOSTNAME and
# each parameter as _SPUG_<variable>; deploy.sh takes the host's identity (ops host id, host
# name, management IP) and _SPUG_node from them itself. Spug sources this text into the
# login shell of the host: everything runs in a subshell, so `set -e` and `exit` end only it.
# shellcheck shell=sh disable=SC2154 # _SPUG_* are set by Spug
(
    set -eu
    bundle=${_SPUG_bundle:-}
    service_url=${_SPUG_service_url:-}
    [ -n "$bundle" ] || { echo "部署失败: 参数 bundle (部署包地址) 未填写" >&2; exit 2; }
    [ -n "$service_url" ] || { echo "部署失败: 参数 service_url (配置服务地址) 未填写" >&2; exit 2; }
    [ -n "${_SPUG_enroll_token:-}" ] || { echo "部署失败: 参数 enroll_token (注册令牌) 未填写" >&2; exit 2; }
    work=$(mktemp -d /tmp/pushagent-spug.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    case "$bundle" in
    http://* | https://*)
        if command -v curl > /dev/null 2>&1; then
            curl -fsS --max-time 600 -o "$work/bundle.tar.gz" "$bundle"
        elif command -v wget > /dev/null 2>&1; then
            wget -q -T 600 -O "$work/bundle.tar.gz" "$bundle"
        else
            busybox wget -q -O "$work/bundle.tar.gz" "$bundle"
        fi
        ;;
    /*) cp "$bundle" "$work/bundle.tar.gz" ;;
    *)
        echo "部署失败: bundle $bundle 不是 http(s) 地址或绝对路径" >&2
        exit 2
        ;;
    esac
    tar -xzf "$work/bundle.tar.gz" -C "$work"
    # The token goes by the environment, never on a command line (ps shows those).
    PUSHAGENT_ENROLL_TOKEN=$_SPUG_enroll_token
    export PUSHAGENT_ENROLL_TOKEN
    if [ "$(id -u)" = 0 ]; then
        sh "$work/deploy.sh" --service-url "$service_url" --method "${_SPUG_method:-auto}" < /dev/null
    else
        sudo -n --preserve-env=SPUG_HOST_ID,SPUG_HOST_NAME,SPUG_HOST_HOSTNAME,_SPUG_node,PUSHAGENT_ENROLL_TOKEN \
            sh "$work/deploy.sh" --service-url "$service_url" --method "${_SPUG_method:-auto}" < /dev/null
    fi
)
