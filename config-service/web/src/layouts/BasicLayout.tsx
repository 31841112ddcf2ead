import { Button, Layout, Menu, Space, Typography } from 'antd';
import {
  AlertOutlined,
  AuditOutlined,
  CloudSyncOutlined,
  ClusterOutlined,
  DashboardOutlined,
  HistoryOutlined,
  AccountBookOutlined,
  LogoutOutlined,
  SettingOutlined,
  TranslationOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { useLocation, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useI18n } from '../i18n';
import { layoutLook } from '../theme';

export default function BasicLayout({
  user,
  onLoggedOut,
  children,
}: {
  user: string;
  onLoggedOut: () => void;
  children: React.ReactNode;
}) {
  const { t, lang, setLang } = useI18n();
  const navigate = useNavigate();
  const location = useLocation();
  const items = [
    { key: '/overview', icon: <DashboardOutlined />, label: t('menu.overview') },
    { key: '/push-config', icon: <SettingOutlined />, label: t('menu.pushConfig') },
    { key: '/machines', icon: <ClusterOutlined />, label: t('menu.machines') },
    { key: '/history', icon: <HistoryOutlined />, label: t('menu.history') },
    { key: '/settlement', icon: <AccountBookOutlined />, label: t('menu.settlement') },
    { key: '/alerts', icon: <AlertOutlined />, label: t('menu.alerts') },
    { key: '/inventory', icon: <CloudSyncOutlined />, label: t('menu.inventory') },
    { key: '/audit', icon: <AuditOutlined />, label: t('menu.audit') },
  ];
  const look = layoutLook();
  const current = items.find((item) => location.pathname.startsWith(item.key))?.key ?? '/overview';
  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Sider width={208} theme="dark" breakpoint="lg" collapsedWidth={64} style={look.sider}>
        <div style={look.logo}>
          PushAgent
        </div>
        <Menu
          theme="dark"
          mode="inline"
          selectedKeys={[current]}
          items={[{ type: 'group', key: 'group', label: t('menu.group'), children: items }]}
          onClick={({ key }) => navigate(key)}
        />
      </Layout.Sider>
      <Layout>
        <Layout.Header
          style={look.header}
          data-theme={look.name}
        >
          <Typography.Title level={look.titleLevel} style={{ margin: 0 }}>
            {items.find((item) => item.key === current)?.label}
          </Typography.Title>
          <Space size="middle">
            <Button
              type="text"
              icon={<TranslationOutlined />}
              onClick={() => setLang(lang === 'zh-CN' ? 'en-US' : 'zh-CN')}
              data-testid="lang-switch"
            >
              {t('header.language')}
            </Button>
            <span data-testid="who" title={t('header.loggedInAs')}>
              <UserOutlined /> {user}
            </span>
            <Button
              icon={<LogoutOutlined />}
              onClick={() => {
                api.logout().finally(onLoggedOut);
              }}
            >
              {t('header.logout')}
            </Button>
          </Space>
        </Layout.Header>
        <Layout.Content style={look.content}>{children}</Layout.Content>
      </Layout>
    </Layout>
  );
}
